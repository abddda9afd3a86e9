"""Batch and BatchJob: the record of truth for every batch, job, callback and compensation."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

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

    id = models.UUIDField(
        verbose_name=_("ID"), primary_key=True, default=uuid.uuid4, editable=False
    )
    type = models.CharField(verbose_name=_("type"), max_length=16, choices=BatchType.choices)
    status = models.CharField(
        verbose_name=_("status"),
        max_length=16,
        choices=BatchStatus.choices,
        default=BatchStatus.PENDING,
    )
    name = models.CharField(verbose_name=_("name"), max_length=255, blank=True, default="")
    queue = models.CharField(
        verbose_name=_("queue"),
        max_length=100,
        help_text=_("RQ queue that carries the batch's work."),
    )

    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="children",
        help_text=_("For a nested batch: the batch it is a member of."),
    )
    root_id = models.UUIDField(
        verbose_name=_("root batch id"),
        null=True,
        blank=True,
        help_text=_("The outermost batch of the tree (its own id at the top)."),
    )
    member_id = models.UUIDField(
        verbose_name=_("member row id"),
        null=True,
        blank=True,
        help_text=_("For a nested batch: its member row in the parent."),
    )
    #: Ids from the root down to this batch, "/"-separated (a subtree is a prefix).
    path = models.CharField(verbose_name=_("path"), max_length=1000, blank=True, default="")
    has_children = models.BooleanField(verbose_name=_("has children"), default=False)

    total_jobs = models.PositiveIntegerField(verbose_name=_("total jobs"), default=0)
    completed_jobs = models.PositiveIntegerField(verbose_name=_("completed jobs"), default=0)
    failed_jobs = models.PositiveIntegerField(verbose_name=_("failed jobs"), default=0)
    cancelled_jobs = models.PositiveIntegerField(verbose_name=_("cancelled jobs"), default=0)
    waiting_jobs = models.PositiveIntegerField(
        verbose_name=_("waiting jobs"),
        default=0,
        help_text=_("Jobs waiting for their turn (pending: not yet handed to RQ)."),
    )
    max_concurrency = models.PositiveIntegerField(
        verbose_name=_("max concurrency"),
        null=True,
        blank=True,
        help_text=_("At most this many of the batch's jobs queued or running at once."),
    )

    context = models.JSONField(
        verbose_name=_("context"), default=dict, blank=True, encoder=DjangoJSONEncoder
    )
    callbacks = models.JSONField(
        verbose_name=_("callbacks"),
        default=dict,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text=_(
            "Event name -> [{'path', 'args', 'max_retries', 'retry_delay', 'timeout'}], "
            "run in that order."
        ),
    )
    options = models.JSONField(
        verbose_name=_("options"),
        default=dict,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text=_("Batch-wide job defaults (max_retries, retry_delay, timeout)."),
    )
    allow_failures = models.BooleanField(verbose_name=_("allow failures"), default=False)
    has_compensation = models.BooleanField(verbose_name=_("has compensation"), default=False)
    # NULL means "nothing to compensate", distinct from every status (the contract's None).
    compensation_status = models.CharField(  # noqa: DJ001
        verbose_name=_("compensation status"),
        max_length=16,
        choices=CompensationStatus.choices,
        null=True,
        blank=True,
    )
    error = models.TextField(verbose_name=_("error"), blank=True, default="")
    finalized_at = models.DateTimeField(
        verbose_name=_("finalized at"),
        null=True,
        blank=True,
        help_text=_(
            "When this outcome's callbacks and compensations had all finished and its "
            "on_finally callbacks started (cleared when the batch is retried)."
        ),
    )

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), default=timezone.now)
    started_at = models.DateTimeField(verbose_name=_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(verbose_name=_("finished at"), null=True, blank=True)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), default=timezone.now)

    objects = BatchQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("batch")
        verbose_name_plural = _("batches")
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

    id = models.UUIDField(
        verbose_name=_("ID"), primary_key=True, default=uuid.uuid4, editable=False
    )
    batch = models.ForeignKey(
        Batch, verbose_name=_("batch"), on_delete=models.CASCADE, related_name="jobs"
    )
    kind = models.CharField(
        verbose_name=_("kind"), max_length=16, choices=JobKind.choices, default=JobKind.JOB
    )
    position = models.IntegerField(
        verbose_name=_("position"),
        help_text=_(
            "0-based place in the batch; for compensations the original job's; "
            "for on_job_failure callbacks the failed job's."
        ),
    )
    sequence = models.PositiveIntegerField(
        verbose_name=_("sequence"),
        default=0,
        help_text=_("For callbacks: the order they run in, one at a time."),
    )
    event = models.CharField(
        verbose_name=_("event"),
        max_length=20,
        choices=CallbackEvent.choices,
        blank=True,
        default="",
        help_text=_("For callbacks: the outcome that triggered it."),
    )
    job_path = models.CharField(verbose_name=_("job"), max_length=255)
    compensation_path = models.CharField(
        verbose_name=_("compensation"), max_length=255, blank=True, default=""
    )
    compensation_tuning = models.JSONField(
        verbose_name=_("compensation tuning"),
        default=dict,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text=_(
            "max_retries, retry_delay and timeout of this job's compensation, resolved at dispatch."
        ),
    )
    compensates = models.ForeignKey(
        "self",
        verbose_name=_("compensates"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="compensations",
    )
    args = models.JSONField(
        verbose_name=_("args"), default=dict, blank=True, encoder=DjangoJSONEncoder
    )
    meta = models.JSONField(
        verbose_name=_("meta"),
        default=dict,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text=_(
            "What the framework passes besides args (callback outcome, compensation data)."
        ),
    )

    status = models.CharField(
        verbose_name=_("status"),
        max_length=16,
        choices=JobStatus.choices,
        default=JobStatus.PENDING,
    )
    attempts = models.PositiveIntegerField(verbose_name=_("attempts"), default=0)
    max_retries = models.PositiveIntegerField(verbose_name=_("max retries"), default=0)
    retry_delay = models.FloatField(verbose_name=_("retry delay"), default=0)
    timeout = models.PositiveIntegerField(verbose_name=_("timeout"), null=True, blank=True)
    result = models.JSONField(
        verbose_name=_("result"), null=True, blank=True, encoder=DjangoJSONEncoder
    )
    error = models.TextField(verbose_name=_("error"), blank=True, default="")
    traceback = models.TextField(verbose_name=_("traceback"), blank=True, default="")

    rq_job_id = models.CharField(
        verbose_name=_("RQ job id"),
        max_length=64,
        blank=True,
        default="",
        help_text=_(
            "The RQ job expected to run this row next; other RQ jobs naming it are ignored."
        ),
    )
    worker_name = models.CharField(
        verbose_name=_("worker name"), max_length=255, blank=True, default=""
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), default=timezone.now)
    enqueued_at = models.DateTimeField(verbose_name=_("enqueued at"), null=True, blank=True)
    started_at = models.DateTimeField(verbose_name=_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(verbose_name=_("finished at"), null=True, blank=True)

    class Meta:
        ordering = ["batch", "kind", "position"]
        verbose_name = _("batch job")
        verbose_name_plural = _("batch jobs")
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
