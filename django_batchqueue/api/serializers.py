"""Representations of batches, jobs, results and control actions."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from ..manager import progress_of
from ..models import Batch, BatchJob
from ..states import BatchStatus, BatchType, CallbackEvent, CompensationStatus


class ProgressSerializer(serializers.Serializer):
    """The dict of ``BatchManager.get_progress()`` (computed by ``progress_of``, from counters)."""

    id = serializers.UUIDField()
    type = serializers.ChoiceField(choices=BatchType.choices)
    status = serializers.ChoiceField(choices=BatchStatus.choices)
    total_jobs = serializers.IntegerField()
    completed_jobs = serializers.IntegerField()
    failed_jobs = serializers.IntegerField()
    cancelled_jobs = serializers.IntegerField()
    pending_jobs = serializers.IntegerField(help_text="total - completed - failed - cancelled")
    progress_percentage = serializers.IntegerField(
        min_value=0, max_value=100, help_text="100 once the batch has finished."
    )
    has_compensation = serializers.BooleanField()
    compensation_status = serializers.ChoiceField(
        choices=CompensationStatus.choices, allow_null=True
    )
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, instance: Batch) -> dict[str, Any]:
        return super().to_representation(progress_of(instance))


class BatchListSerializer(serializers.ModelSerializer):
    """A batch in a list: counters and timestamps, no context."""

    pending_jobs = serializers.IntegerField(read_only=True)
    progress_percentage = serializers.IntegerField(read_only=True, min_value=0, max_value=100)

    class Meta:
        model = Batch
        fields = [
            "id",
            "name",
            "type",
            "status",
            "queue",
            "total_jobs",
            "completed_jobs",
            "failed_jobs",
            "cancelled_jobs",
            "pending_jobs",
            "progress_percentage",
            "has_compensation",
            "compensation_status",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    #: Columns the list reads (the JSON columns can be large).
    list_columns = [f for f in Meta.fields if f not in ("pending_jobs", "progress_percentage")]


class BatchDetailSerializer(serializers.ModelSerializer):
    """One batch: its settings, context, error and a ``progress`` block."""

    progress = ProgressSerializer(source="*", read_only=True)

    class Meta:
        model = Batch
        fields = [
            "id",
            "name",
            "type",
            "status",
            "queue",
            "allow_failures",
            "has_compensation",
            "compensation_status",
            "error",
            "context",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "updated_at",
            "progress",
        ]
        read_only_fields = fields


class BatchJobSerializer(serializers.ModelSerializer):
    """A job, callback or compensation row of a batch."""

    # Declared: a read-only ModelSerializer field loses allow_blank, and "" is the common value.
    event = serializers.ChoiceField(
        choices=CallbackEvent.choices,
        allow_blank=True,
        read_only=True,
        help_text='For callbacks: the outcome that triggered it; "" otherwise.',
    )

    class Meta:
        model = BatchJob
        fields = [
            "id",
            "kind",
            "position",
            "event",
            "job_path",
            "compensation_path",
            "compensates",
            "status",
            "attempts",
            "max_retries",
            "args",
            "result",
            "error",
            "created_at",
            "enqueued_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class JobResultSerializer(serializers.Serializer):
    """The result of one completed job (``kind`` ``job``), in position order."""

    job_id = serializers.UUIDField()
    position = serializers.IntegerField()
    result = serializers.JSONField(allow_null=True)


class CancelRequestSerializer(serializers.Serializer):
    """Body of ``POST batches/{id}/cancel/``."""

    compensate = serializers.BooleanField(
        default=False, help_text="Run the compensations of the completed jobs (newest first)."
    )


class CancelResponseSerializer(serializers.Serializer):
    cancelled = serializers.BooleanField()
    batch = BatchDetailSerializer()


class RetryResponseSerializer(serializers.Serializer):
    requeued_jobs = serializers.IntegerField(help_text="How many failed or cancelled jobs.")
    batch = BatchDetailSerializer()


class ErrorSerializer(serializers.Serializer):
    """The body of 401, 403, 404 and 409 responses."""

    detail = serializers.CharField()
