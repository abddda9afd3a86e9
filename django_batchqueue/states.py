"""Status enums and the groups of statuses the engine reasons about."""

from __future__ import annotations

from django.db import models


class BatchType(models.TextChoices):
    """``batch(...)`` makes a parallel batch, ``chain(...)`` a chain: stored as ``sequential``,
    shown as "Chain", and ``BatchType("chain")`` is ``BatchType.SEQUENTIAL`` (the admin's and the
    API's filters accept ``chain`` too)."""

    PARALLEL = "parallel", "Parallel"
    SEQUENTIAL = "sequential", "Chain"

    @classmethod
    def _missing_(cls, value: object) -> BatchType | None:
        return cls.SEQUENTIAL if value == "chain" else None


class BatchStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class JobStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class JobKind(models.TextChoices):
    JOB = "job", "Job"
    #: A nested batch, one member of its parent (its status follows the child batch).
    BATCH = "batch", "Nested batch"
    COMPENSATION = "compensation", "Compensation"
    CALLBACK = "callback", "Callback"


class CallbackEvent(models.TextChoices):
    ON_COMPLETE = "on_complete", "on_complete"
    ON_FAILURE = "on_failure", "on_failure"
    ON_JOB_FAILURE = "on_job_failure", "on_job_failure"
    ON_FINALLY = "on_finally", "on_finally"


class CompensationStatus(models.TextChoices):
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


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
