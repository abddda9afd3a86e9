"""What crosses the storage interface: plain records, never ORM instances.

:class:`BatchRecord` and :class:`JobRecord` carry the same field names as the SQL backend's
``Batch`` and ``BatchJob`` models, so code written against the records reads like code written
against the models, and any backend can build them. :class:`NewJob` and :class:`NewRun` are rows
about to be stored.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from ..progress import BatchFigures
from ..states import JobKind, JobStatus


@dataclass(eq=False)
class BatchRecord(BatchFigures):
    """One batch as storage holds it."""

    id: uuid.UUID
    type: str
    status: str
    queue: str
    name: str = ""
    #: For a nested batch: its parent, its member row there; the tree's outermost batch.
    parent_id: uuid.UUID | None = None
    root_id: uuid.UUID | None = None
    member_id: uuid.UUID | None = None
    #: Ids from the root down to this batch, "/"-separated.
    path: str = ""
    has_children: bool = False
    total_jobs: int = 0
    completed_jobs: int = 0
    failed_jobs: int = 0
    cancelled_jobs: int = 0
    #: Jobs waiting for their turn: pending, not yet handed to RQ.
    waiting_jobs: int = 0
    #: At most this many of the batch's jobs queued or running at once (``None``: no cap).
    max_concurrency: int | None = None
    context: dict[str, Any] = field(default_factory=dict)
    #: Event -> ``{"path", "args", "max_retries", "retry_delay", "timeout"}``.
    callbacks: dict[str, Any] = field(default_factory=dict)
    #: Batch-wide job defaults (max_retries, retry_delay, timeout).
    options: dict[str, Any] = field(default_factory=dict)
    allow_failures: bool = False
    has_compensation: bool = False
    compensation_status: str | None = None
    error: str = ""
    #: When this outcome's callbacks and compensations were done and on_finally started.
    finalized_at: datetime | None = None
    #: Redis storage only: the outcome whose follow-up writes (unstarted jobs cancelled,
    #: callbacks created, compensation started) are not all done yet: ``completed``, ``failed``,
    #: ``cancelled``, or ``cancelled+undo``; set atomically with the ending, cleared by
    #: ``outcome_written``. Left set by a worker killed mid-decision, it tells reconcile to
    #: redo them (SQL storage writes an ending and its follow-ups in one transaction).
    acting: str = ""
    created_by_id: Any = None
    created_at: datetime = field(default_factory=timezone.now)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime = field(default_factory=timezone.now)

    @property
    def pk(self) -> uuid.UUID:
        return self.id

    @property
    def tree_root(self) -> uuid.UUID:
        """The outermost batch of this batch's tree."""
        return self.root_id or self.id


@dataclass(eq=False)
class JobRecord:
    """One job, callback or compensation run of a batch."""

    id: uuid.UUID
    batch_id: uuid.UUID
    kind: str
    position: int
    job_path: str
    status: str
    event: str = ""
    #: For callbacks: the order they run in.
    sequence: int = 0
    compensation_path: str = ""
    #: Tuning of this job's compensation, resolved at dispatch.
    compensation_tuning: dict[str, Any] = field(default_factory=dict)
    compensates_id: uuid.UUID | None = None
    args: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    max_retries: int = 0
    retry_delay: float = 0.0
    timeout: int | None = None
    result: Any = None
    error: str = ""
    traceback: str = ""
    rq_job_id: str = ""
    worker_name: str = ""
    created_at: datetime = field(default_factory=timezone.now)
    enqueued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    #: Loaded with the row by a claim; ``None`` otherwise.
    batch: BatchRecord | None = None

    @property
    def pk(self) -> uuid.UUID:
        return self.id

    @property
    def duration(self) -> timedelta | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    @property
    def loaded_batch(self) -> BatchRecord:
        """The batch loaded with the row (claims load it); a programming error otherwise."""
        if self.batch is None:
            raise RuntimeError(f"job {self.id} was loaded without its batch")
        return self.batch


@dataclass(slots=True)
class NewJob:
    """One member row about to be stored (dispatch or added jobs): a job, or a nested batch
    (``kind="batch"``)."""

    id: uuid.UUID
    position: int
    job_path: str
    compensation_path: str
    args_json: str
    status: str
    max_retries: int
    retry_delay: float
    timeout: int | None
    rq_job_id: str
    enqueued_at: datetime | None
    #: JSON of the compensation's tuning ("{}" without a compensation).
    compensation_tuning_json: str = "{}"
    kind: str = JobKind.JOB


@dataclass
class NewRun:
    """A callback or compensation run about to be stored (status ``pending``)."""

    batch_id: uuid.UUID
    kind: str
    position: int
    job_path: str
    args: dict[str, Any]
    meta: dict[str, Any]
    max_retries: int = 0
    retry_delay: float = 0.0
    timeout: int | None = None
    event: str = ""
    compensates_id: uuid.UUID | None = None
    #: For callbacks, set by the storage when stored: the order they run in.
    sequence: int = 0
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    def as_record(self) -> JobRecord:
        """The record the run reads as once stored."""
        return JobRecord(
            id=self.id,
            batch_id=self.batch_id,
            kind=self.kind,
            position=self.position,
            job_path=self.job_path,
            status=JobStatus.PENDING,
            event=self.event,
            sequence=self.sequence,
            compensates_id=self.compensates_id,
            args=self.args,
            meta=self.meta,
            max_retries=self.max_retries,
            retry_delay=self.retry_delay,
            timeout=self.timeout,
        )


@dataclass(frozen=True)
class Counts:
    """A batch's counters right after a run was counted."""

    total: int
    completed: int
    failed: int
    cancelled: int
    status: str
    waiting: int = 0

    @property
    def all_done(self) -> bool:
        return self.completed + self.failed + self.cancelled >= self.total

    @property
    def active(self) -> int:
        """Jobs handed to RQ and not finished: queued or running."""
        return self.total - self.completed - self.failed - self.cancelled - self.waiting


@dataclass(frozen=True)
class NextStep:
    """What :meth:`~django_batchqueue.storage.base.Storage.queue_next_step` found first among a
    chain's pending members, and whether it queued it."""

    #: ``None``: no member is pending.
    row_id: uuid.UUID | None = None
    kind: str = JobKind.JOB
    #: A job that is now queued (a nested batch is never queued: the caller starts it).
    queued: bool = False
    timeout: int | None = None


#: The ``job_path`` of the compensation run that undoes a nested batch as a unit (no RQ job
#: runs it: the nested batch's own compensations do the work).
NESTED_UNDO = "django_batchqueue:nested-batch"

#: Kinds of ``JobRecord`` rows that are runs recorded against a batch, not its jobs.
RUN_KINDS = (JobKind.CALLBACK, JobKind.COMPENSATION)


#: The counter (``Storage.count``'s keyword) a member that finishes with a status adds to.
COUNTER_OF = {"completed": "completed", "failed": "failed", "cancelled": "cancelled"}
