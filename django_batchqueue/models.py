"""Batch and BatchJob: the record of truth for every batch, job, callback and compensation."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .progress import BatchFigures
from .states import (
    FINISHED_BATCH,
    BatchStatus,
    BatchType,
    CallbackEvent,
    CompensationStatus,
    JobKind,
    JobStatus,
)


class BatchQuerySet(models.QuerySet["Batch"]):
    def finished(self) -> BatchQuerySet:
        return self.filter(status__in=FINISHED_BATCH)

    def unfinished(self) -> BatchQuerySet:
        return self.exclude(status__in=FINISHED_BATCH)


class Batch(BatchFigures, models.Model):
    """A tracked group of jobs: a parallel batch or a chain."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=16, choices=BatchType.choices)
    status = models.CharField(
        max_length=16, choices=BatchStatus.choices, default=BatchStatus.PENDING
    )
    name = models.CharField(max_length=255, blank=True, default="")
    queue = models.CharField(max_length=100, help_text="RQ queue that carries the batch's work.")

    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="children",
        help_text="For a nested batch: the batch it is a member of.",
    )
    root_id = models.UUIDField(
        null=True, blank=True, help_text="The outermost batch of the tree (its own id at the top)."
    )
    member_id = models.UUIDField(
        null=True, blank=True, help_text="For a nested batch: its member row in the parent."
    )
    #: Ids from the root down to this batch, "/"-separated (a subtree is a prefix).
    path = models.CharField(max_length=1000, blank=True, default="")
    has_children = models.BooleanField(default=False)

    total_jobs = models.PositiveIntegerField(default=0)
    completed_jobs = models.PositiveIntegerField(default=0)
    failed_jobs = models.PositiveIntegerField(default=0)
    cancelled_jobs = models.PositiveIntegerField(default=0)
    waiting_jobs = models.PositiveIntegerField(
        default=0, help_text="Jobs waiting for their turn (pending: not yet handed to RQ)."
    )
    max_concurrency = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="At most this many of the batch's jobs queued or running at once.",
    )

    context = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    callbacks = models.JSONField(
        default=dict,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text="Event name -> [{'path', 'args', 'max_retries', 'retry_delay', 'timeout'}], "
        "run in that order.",
    )
    options = models.JSONField(
        default=dict,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text="Batch-wide job defaults (max_retries, retry_delay, timeout).",
    )
    allow_failures = models.BooleanField(default=False)
    has_compensation = models.BooleanField(default=False)
    # NULL means "nothing to compensate", distinct from every status (the contract's None).
    compensation_status = models.CharField(  # noqa: DJ001
        max_length=16, choices=CompensationStatus.choices, null=True, blank=True
    )
    error = models.TextField(blank=True, default="")
    finalized_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When this outcome's callbacks and compensations had all finished and its "
        "on_finally callbacks started (cleared when the batch is retried).",
    )

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = BatchQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "batches"
        indexes = [
            models.Index(fields=["status", "created_at"], name="batchqueue_batch_status_idx"),
            models.Index(fields=["finished_at"], name="batchqueue_batch_finished_idx"),
            models.Index(fields=["created_at"], name="batchqueue_batch_created_idx"),
            models.Index(fields=["root_id"], name="batchqueue_batch_root_idx"),
            models.Index(fields=["member_id"], name="batchqueue_batch_member_idx"),
        ]

    def __str__(self) -> str:
        return self.name or str(self.id)


class BatchJob(models.Model):
    """One job of a batch, or one callback or compensation run recorded against it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=16, choices=JobKind.choices, default=JobKind.JOB)
    position = models.IntegerField(
        help_text="0-based place in the batch; for compensations the original job's; "
        "for on_job_failure callbacks the failed job's."
    )
    sequence = models.PositiveIntegerField(
        default=0, help_text="For callbacks: the order they run in, one at a time."
    )
    event = models.CharField(
        max_length=20,
        choices=CallbackEvent.choices,
        blank=True,
        default="",
        help_text="For callbacks: the outcome that triggered it.",
    )
    job_path = models.CharField(max_length=255)
    compensation_path = models.CharField(max_length=255, blank=True, default="")
    compensation_tuning = models.JSONField(
        default=dict,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text="max_retries, retry_delay and timeout of this job's compensation, resolved "
        "at dispatch.",
    )
    compensates = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="compensations"
    )
    args = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    meta = models.JSONField(
        default=dict,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text="What the framework passes besides args (callback outcome, compensation data).",
    )

    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    max_retries = models.PositiveIntegerField(default=0)
    retry_delay = models.FloatField(default=0)
    timeout = models.PositiveIntegerField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    error = models.TextField(blank=True, default="")
    traceback = models.TextField(blank=True, default="")

    rq_job_id = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="The RQ job expected to run this row next; other RQ jobs naming it are ignored.",
    )
    worker_name = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["batch", "kind", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["batch", "position"],
                condition=Q(kind="job"),
                name="batchqueue_job_position_uniq",
            ),
            models.UniqueConstraint(
                fields=["compensates"],
                condition=Q(kind="compensation"),
                name="batchqueue_one_compensation_uniq",
            ),
        ]
        indexes = [
            models.Index(
                fields=["batch", "kind", "status", "position"], name="batchqueue_job_lookup_idx"
            ),
            models.Index(fields=["status", "enqueued_at"], name="batchqueue_job_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.job_path} #{self.position} ({self.kind})"

    @property
    def duration(self) -> timedelta | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at
