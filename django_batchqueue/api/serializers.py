"""Representations of batches, jobs, results and control actions."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..manager import progress_for, progress_of
from ..states import BatchStatus, BatchType, CallbackEvent, CompensationStatus, JobKind, JobStatus
from ..storage import get_storage


class LeafCountsSerializer(serializers.Serializer):
    """The four counters summed over the leaf jobs of a batch's whole tree."""

    total_jobs = serializers.IntegerField(min_value=0)
    completed_jobs = serializers.IntegerField(min_value=0)
    failed_jobs = serializers.IntegerField(min_value=0)
    cancelled_jobs = serializers.IntegerField(min_value=0)


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
    leaf = LeafCountsSerializer(
        help_text="The counters summed over the leaf jobs of the whole tree (nested batches "
        "included); progress_percentage is computed from these."
    )

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = instance if isinstance(instance, dict) else progress_for(instance)
        return super().to_representation(data)


class BatchListSerializer(serializers.Serializer):
    """A batch in a list: counters and timestamps, no context."""

    id = serializers.UUIDField()
    name = serializers.CharField(max_length=255, allow_blank=True)
    type = serializers.ChoiceField(choices=BatchType.choices)
    status = serializers.ChoiceField(choices=BatchStatus.choices)
    queue = serializers.CharField(
        max_length=100, help_text="RQ queue that carries the batch's work."
    )
    total_jobs = serializers.IntegerField(min_value=0)
    completed_jobs = serializers.IntegerField(min_value=0)
    failed_jobs = serializers.IntegerField(min_value=0)
    cancelled_jobs = serializers.IntegerField(min_value=0)
    pending_jobs = serializers.IntegerField(min_value=0)
    active_jobs = serializers.IntegerField(
        min_value=0, help_text="Of the pending jobs, those handed to RQ: queued or running."
    )
    waiting_jobs = serializers.IntegerField(
        min_value=0, help_text="Of the pending jobs, those waiting for their turn (not in RQ)."
    )
    progress_percentage = serializers.IntegerField(min_value=0, max_value=100)
    max_concurrency = serializers.IntegerField(min_value=1, allow_null=True)
    has_compensation = serializers.BooleanField()
    compensation_status = serializers.ChoiceField(
        choices=CompensationStatus.choices, allow_null=True
    )
    created_by = serializers.IntegerField(source="created_by_id", allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class ChildSerializer(serializers.Serializer):
    """A nested batch, as listed in its parent's detail."""

    id = serializers.UUIDField()
    position = serializers.IntegerField(
        min_value=0, help_text="Its place among the parent's members."
    )
    name = serializers.CharField(max_length=255, allow_blank=True)
    type = serializers.ChoiceField(choices=BatchType.choices)
    status = serializers.ChoiceField(choices=BatchStatus.choices)
    progress = ProgressSerializer(help_text="Its own progress (its members, nested ones included).")


class BatchDetailSerializer(serializers.Serializer):
    """One batch: its settings, context, error and a ``progress`` block."""

    id = serializers.UUIDField()
    name = serializers.CharField(max_length=255, allow_blank=True)
    type = serializers.ChoiceField(choices=BatchType.choices)
    status = serializers.ChoiceField(choices=BatchStatus.choices)
    queue = serializers.CharField(
        max_length=100, help_text="RQ queue that carries the batch's work."
    )
    allow_failures = serializers.BooleanField()
    max_concurrency = serializers.IntegerField(min_value=1, allow_null=True)
    active_jobs = serializers.IntegerField(
        min_value=0, help_text="Unfinished jobs handed to RQ: queued or running."
    )
    waiting_jobs = serializers.IntegerField(
        min_value=0, help_text="Unfinished jobs waiting for their turn (not in RQ yet)."
    )
    has_compensation = serializers.BooleanField()
    compensation_status = serializers.ChoiceField(
        choices=CompensationStatus.choices, allow_null=True
    )
    error = serializers.CharField(allow_blank=True)
    # A declared field, not the serializer's ``context`` property (DRF moves it aside).
    context = serializers.JSONField()  # type: ignore[assignment]
    created_by = serializers.IntegerField(source="created_by_id", allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()
    parent_id = serializers.UUIDField(
        allow_null=True, help_text="The batch this one is nested in (null at the top)."
    )
    root_id = serializers.UUIDField(
        allow_null=True, help_text="The outermost batch of its tree (its own id at the top)."
    )
    children = serializers.SerializerMethodField(help_text="Its nested batches, in position order.")
    progress = ProgressSerializer(source="*", read_only=True)

    @extend_schema_field(ChildSerializer(many=True))
    def get_children(self, batch: Any) -> list[dict[str, Any]]:
        if not batch.has_children:
            return []
        children = get_storage().children(batch.pk)
        return [
            dict(
                ChildSerializer(
                    {
                        "id": child.pk,
                        "position": position,
                        "name": child.name,
                        "type": child.type,
                        "status": child.status,
                        # Its own members: no reads per nested level, whatever the tree.
                        "progress": progress_of(child),
                    }
                ).data
            )
            for position, child in children
        ]


class BatchJobSerializer(serializers.Serializer):
    """A job, callback or compensation row of a batch."""

    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=JobKind.choices)
    position = serializers.IntegerField(
        help_text="0-based place in the batch; for compensations the original job's; "
        "for on_job_failure callbacks the failed job's."
    )
    event = serializers.ChoiceField(
        choices=CallbackEvent.choices,
        allow_blank=True,
        help_text='For callbacks: the outcome that triggered it; "" otherwise.',
    )
    job_path = serializers.CharField(max_length=255)
    compensation_path = serializers.CharField(max_length=255, allow_blank=True)
    compensates = serializers.UUIDField(source="compensates_id", allow_null=True)
    status = serializers.ChoiceField(choices=JobStatus.choices)
    attempts = serializers.IntegerField(min_value=0)
    max_retries = serializers.IntegerField(min_value=0)
    args = serializers.JSONField()
    result = serializers.JSONField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    enqueued_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


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
