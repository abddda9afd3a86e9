"""Status enums and the groups of statuses the engine reasons about."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class BatchType(models.TextChoices):
    """``batch(...)`` makes a parallel batch, ``chain(...)`` a chain: stored as ``sequential``,
    shown as "Chain", and ``BatchType("chain")`` is ``BatchType.SEQUENTIAL`` (the admin's and the
    API's filters accept ``chain`` too)."""

    PARALLEL = "parallel", _("Parallel")
    SEQUENTIAL = "sequential", _("Chain")

    @classmethod
    def _missing_(cls, value: object) -> BatchType | None:
        return cls.SEQUENTIAL if value == "chain" else None


class BatchStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class JobStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class JobKind(models.TextChoices):
    JOB = "job", _("Job")
    #: A nested batch, one member of its parent (its status follows the child batch).
    BATCH = "batch", _("Nested batch")
    COMPENSATION = "compensation", _("Compensation")
    CALLBACK = "callback", _("Callback")


class CallbackEvent(models.TextChoices):
    ON_COMPLETE = "on_complete", "on_complete"
    ON_FAILURE = "on_failure", "on_failure"
    ON_JOB_FAILURE = "on_job_failure", "on_job_failure"
    ON_FINALLY = "on_finally", "on_finally"


class CompensationStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed")


#: A batch in one of these may still gain jobs, run jobs and be cancelled.
OPEN_BATCH = (BatchStatus.PENDING, BatchStatus.RUNNING)
#: Terminal batch statuses.
FINISHED_BATCH = (BatchStatus.COMPLETED, BatchStatus.FAILED, BatchStatus.CANCELLED)
#: Kinds of rows that are members of a batch (counted in its progress).
MEMBER_KINDS = (JobKind.JOB, JobKind.BATCH)
#: Jobs that have not started yet: cancelling a batch cancels these.
UNSTARTED_JOB = (JobStatus.PENDING, JobStatus.QUEUED)
#: Jobs that hold a place on an RQ queue or a worker.
ACTIVE_JOB = (JobStatus.QUEUED, JobStatus.RUNNING)
#: Terminal job statuses.
FINISHED_JOB = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)
