"""The storage interface: every read and write of batch state goes through these verbs.

A backend decides *who acts* with conditional transitions: each transition method changes state
only from the state it names and returns whether it did (a row count, a script's answer), so two
workers racing for the same job or the same settle never both win. Structural decisions for one
batch (advance a chain, add jobs, start callbacks or compensations) are made inside
:meth:`Storage.decide`, which serialises them per batch; work that must happen only once the
decision is durable (enqueueing RQ jobs, sending signals) is registered with
:meth:`Storage.on_commit`.

Backends declare what else they can do with ``supports_*`` flags, the way django-tasks backends
do, and :meth:`Storage.check` reports configuration problems to ``manage.py check``.
Records (:mod:`.records`) cross the interface, never ORM instances.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol, runtime_checkable

from .records import BatchRecord, Counts, JobRecord, NewJob, NewRun, NextStep


@dataclass(frozen=True)
class BatchQuery:
    """Filters and order of a batch listing (the REST API's ``GET batches/``)."""

    status: str | None = None
    type: str | None = None
    has_compensation: bool | None = None
    name_contains: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    created_by_id: Any = None
    #: Only the counters and timestamps (no context, options, callbacks).
    summary: bool = True


@dataclass(frozen=True)
class JobQuery:
    """Filters and order of the rows of one batch."""

    batch_id: uuid.UUID
    #: One kind, or several (``MEMBER_KINDS``: the batch's jobs and nested batches).
    kind: str | tuple[str, ...] | None = None
    status: str | None = None
    #: ``"position"`` (jobs in order), ``"started"`` (what ran first, then the rest) or
    #: ``"ran"`` (only rows that started, in the order they started).
    order: str = "position"


@runtime_checkable
class Storage(Protocol):
    """What orchestration, control, reconciliation and the read APIs need from a backend."""

    #: Several writes inside :meth:`atomic` commit together or not at all.
    supports_transactions: ClassVar[bool]
    #: Batches are Django model rows: the admin's changelist and ORM filters can list them.
    supports_querysets: ClassVar[bool]
    #: State survives a restart of the process that holds it.
    supports_durability: ClassVar[bool]

    # -- units of work ----------------------------------------------------------------------

    def atomic(self) -> AbstractContextManager[Any]:
        """A unit of work: what is written inside commits together."""
        ...

    def decide(self, batch_id: uuid.UUID) -> AbstractContextManager[bool]:
        """A unit of work that serialises with every other decision about ``batch_id`` (and,
        for a nested batch, about its tree: its root is taken first).

        Yields whether the batch exists.
        """
        ...

    def lock(self, batch_id: uuid.UUID) -> bool:
        """Inside :meth:`atomic`: serialise the rest of it with other decisions on the batch."""
        ...

    def lock_tree(self, batch: BatchRecord) -> None:
        """Inside :meth:`atomic`, first thing: for a nested batch, serialise with every other
        decision in its tree (every decision about a tree takes its root first)."""
        ...

    def on_commit(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` once the current unit of work has committed (at once outside one)."""
        ...

    def check(self) -> list[Any]:
        """``django.core.checks`` messages about this backend's configuration."""
        ...

    # -- creating ---------------------------------------------------------------------------

    def create_batch(self, batch: BatchRecord, jobs: Iterable[NewJob]) -> None: ...

    def add_new_jobs(self, batch_id: uuid.UUID, jobs: Iterable[NewJob]) -> None: ...

    def insert_runs(self, runs: Sequence[NewRun]) -> None:
        """Store callback or compensation runs (status ``pending``); callbacks get the next
        ``sequence`` numbers of their batch, in the order given."""
        ...

    # -- job transitions (each returns whether it happened) ---------------------------------

    def claim_and_load(self, row_id: str, rq_job_id: str | None, worker: str) -> JobRecord | None:
        """queued -> running for this RQ job (any RQ job when ``None``), with the batch loaded."""
        ...

    def complete_and_count(self, row: JobRecord, result: Any) -> Counts | None:
        """running -> completed and the batch's ``completed_jobs`` + 1, atomically."""
        ...

    def finish(
        self,
        row: JobRecord,
        status: str,
        *,
        result: Any = None,
        error: str = "",
        traceback: str = "",
        counted: bool = False,
        context: dict[str, Any] | None = None,
    ) -> bool:
        """running -> completed/failed/cancelled for the run ``row`` describes (same RQ job).

        ``counted``: the row is a member, counted in its batch's counters by status in the same
        step (and ``context``, for a chain step, stored as the batch's), so no crash can leave
        a member finished but uncounted."""
        ...

    def complete_member(
        self, row: JobRecord, result: Any, context: dict[str, Any] | None = None
    ) -> BatchRecord | None:
        """Inside a unit of work: ``finish(row, "completed", counted=True, context=...)``, then
        the batch as that left it (``None``: the row was not in that run any more). A chain
        step's ending, in one round trip where the backend can."""
        ...

    def queue_next_step(
        self,
        batch_id: uuid.UUID,
        rq_job_id: str,
        meta: dict[str, Any],
        *,
        durable: bool = True,
    ) -> NextStep:
        """Inside a unit of work: the chain's first pending member (as :meth:`first_pending`
        orders them), pending -> queued as ``rq_job_id`` with ``meta`` if it is a job (it leaves
        the batch's ``waiting_jobs``). ``durable=False``: this unit of work decides nothing but
        the hand-off, and a backend may commit it without waiting for durability
        (``ASYNC_JOB_COMMITS``)."""
        ...

    def requeue_after_failure(
        self, row: JobRecord, rq_job_id: str, error: str, traceback: str
    ) -> bool:
        """running -> queued for another attempt as ``rq_job_id``, keeping the attempt's error."""
        ...

    def queue_pending(
        self,
        row_id: uuid.UUID,
        rq_job_id: str,
        *,
        batch_id: uuid.UUID | None = None,
        meta: dict[str, Any] | None = None,
    ) -> bool:
        """pending -> queued as ``rq_job_id`` (and ``meta`` stored, when given); a job of
        ``batch_id`` (not a callback or compensation run) also leaves that batch's
        ``waiting_jobs``."""
        ...

    def start_virtual(self, row_id: uuid.UUID, *, batch_id: uuid.UUID | None = None) -> bool:
        """pending -> running for a row that no RQ job runs: a nested batch's member row (a
        member of ``batch_id``: it leaves that batch's waiting jobs) or the compensation run
        that undoes one."""
        ...

    def reopen_child(self, batch_id: uuid.UUID) -> bool:
        """A failed or cancelled nested batch (compensation not started) back to pending."""
        ...

    def release_waiting(
        self, batch_id: uuid.UUID, limit: int
    ) -> list[tuple[uuid.UUID, str, int | None, str]]:
        """Inside a unit of work: release waiting members in position order until ``limit`` of
        them are queued or running (a job -> queued for RQ, a nested batch's member row ->
        running); returns (row id, RQ job id or "", timeout, kind) of each."""
        ...

    def reassign_rq_jobs(self, changes: Sequence[tuple[uuid.UUID, str, str]]) -> set[uuid.UUID]:
        """Queued rows whose RQ job will never run get new ones: each ``(row id, old RQ job id,
        new RQ job id)`` applies only if the row is still queued for the old id. All in one
        transaction; returns the ids of the rows that moved."""
        ...

    def cancel_unstarted(self, batch_id: uuid.UUID) -> int:
        """pending/queued jobs -> cancelled, counted on the batch (the pending ones leave its
        ``waiting_jobs``); returns how many."""
        ...

    # -- batch transitions ------------------------------------------------------------------

    def count(
        self,
        batch_id: uuid.UUID,
        *,
        completed: int = 0,
        failed: int = 0,
        cancelled: int = 0,
        waiting: int = 0,
        context: dict[str, Any] | None = None,
    ) -> bool:
        """Add to the counters (and, for a chain step, store the context)."""
        ...

    def grow(
        self,
        batch_id: uuid.UUID,
        n: int,
        has_compensation: bool,
        waiting: int = 0,
        has_children: bool = False,
    ) -> bool:
        """An open batch gains ``n`` members, ``waiting`` of them pending (``has_children``:
        some are nested batches); False when it has finished or does not exist."""
        ...

    def mark_started(self, batch_id: uuid.UUID) -> bool:
        """pending -> running."""
        ...

    def settle(self, batch_id: uuid.UUID, recount: bool = False) -> bool:
        """open -> completed once every job has finished; True for the one caller that did it.

        ``recount`` (reconcile's nudge): where counters can fall behind the rows (Redis storage,
        a count lost with a killed worker), count the members' rows and correct the counters
        first. Elsewhere counters and rows change together and it changes nothing."""
        ...

    def close(self, batch_id: uuid.UUID, status: str, error: str = "", undo: bool = False) -> bool:
        """open -> failed/cancelled; True for the one caller that did it. ``undo``: a cancel
        that also compensates (kept with the ending where follow-ups are not transactional)."""
        ...

    def outcome_written(self, batch_id: uuid.UUID) -> None:
        """The ending's follow-up writes are all done (clears ``acting``; a no-op where the
        ending and its follow-ups are one transaction)."""
        ...

    def reopen_for_retry(self, batch_id: uuid.UUID) -> bool:
        """failed (or completed with failures, allowing them) -> running, before compensation."""
        ...

    def finalize(self, batch_id: uuid.UUID) -> bool:
        """A finished batch's outcome has been acted on: set ``finalized_at`` if unset (once
        per outcome); True for the one caller that set it."""
        ...

    def set_compensation_status(
        self, batch_id: uuid.UUID, status: str, only_if: Iterable[str | None] | None = None
    ) -> bool: ...

    def reset_for_retry(self, batch_id: uuid.UUID) -> list[JobRecord]:
        """Failed and cancelled jobs back to pending, uncounted; returned in position order."""
        ...

    # -- reads the engine decides with ------------------------------------------------------

    def get_batch(self, batch_id: uuid.UUID) -> BatchRecord | None: ...

    def load_job(self, row_id: uuid.UUID) -> JobRecord | None:
        """A row with its batch loaded."""
        ...

    def job_status(self, row_id: uuid.UUID) -> str | None: ...

    def batch_status(self, batch_id: uuid.UUID) -> str | None: ...

    def max_position(self, batch_id: uuid.UUID) -> int:
        """The highest job position (-1 for none)."""
        ...

    def first_pending(
        self, batch_id: uuid.UUID, kind: str | tuple[str, ...], newest_first: bool = False
    ) -> JobRecord | None:
        """The pending row of ``kind`` first in order: lowest ``sequence`` then position (or
        the highest position, ``newest_first``)."""
        ...

    def has_active(self, batch_id: uuid.UUID, kind: str | tuple[str, ...]) -> bool:
        """Whether a row of ``kind`` (or of one of these kinds) is queued or running."""
        ...

    def completed_with_compensation(self, batch_id: uuid.UUID) -> list[JobRecord]:
        """Completed members (jobs, nested batches) that declare a compensation and have none
        recorded yet."""
        ...

    def running_with_compensation(self, batch_id: uuid.UUID) -> bool:
        """Whether a member that declares a compensation is queued or running."""
        ...

    def child_of(self, member_id: uuid.UUID) -> BatchRecord | None:
        """The nested batch whose member row is ``member_id``."""
        ...

    def children(self, batch_id: uuid.UUID) -> list[tuple[int, BatchRecord]]:
        """The batch's nested batches with their member positions, in position order."""
        ...

    def member_result(self, child: BatchRecord) -> Any:
        """A nested batch's result as a member: a chain's last step's result, a parallel
        batch's members' results in position order (``None`` for one that did not complete)."""
        ...

    def result_at(self, batch_id: uuid.UUID, position: int) -> Any:
        """The result of the member at ``position`` (``None`` if it did not complete)."""
        ...

    def compensation_of(self, batch_id: uuid.UUID, original_id: uuid.UUID) -> JobRecord | None:
        """The compensation run of ``batch_id`` that undoes member ``original_id``."""
        ...

    def compensation_failures(self, batch_id: uuid.UUID) -> int: ...

    # -- reads for users (manager, admin, API) ----------------------------------------------

    def user_batch(self, batch_id: uuid.UUID) -> Any:
        """The batch as ``BatchManager.get_batch()`` hands it to users: on SQL storage the
        ``Batch`` model instance (usable with the ORM and the admin), elsewhere a record."""
        ...

    def user_children(self, batch_id: uuid.UUID) -> list[Any]:
        """The nested batches as ``BatchManager.get_children()`` hands them to users."""
        ...

    def leaf_counts(self, batch: Any) -> dict[str, int]:
        """``total_jobs``, ``completed_jobs``, ``failed_jobs``, ``cancelled_jobs`` summed over
        the leaf jobs of the batch's whole subtree, in a fixed number of reads."""
        ...

    def progress_of(self, batch_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, BatchRecord]:
        """The batches' counters and timestamps (no context), in one read."""
        ...

    def completed_results(
        self, batch_id: uuid.UUID, offset: int = 0, limit: int | None = None
    ) -> list[tuple[uuid.UUID, int, Any]]:
        """``(job id, position, result)`` of completed jobs, in position order."""
        ...

    def count_completed(self, batch_id: uuid.UUID) -> int: ...

    def job_result(self, batch_id: uuid.UUID, job_id: uuid.UUID) -> tuple[str, Any] | None:
        """``(status, result)`` of one row of the batch; ``None`` if it has no such row."""
        ...

    def list_batches(self, query: BatchQuery, offset: int, limit: int) -> list[BatchRecord]:
        """Batches matching ``query``, newest first."""
        ...

    def count_batches(self, query: BatchQuery) -> int: ...

    def list_jobs(self, query: JobQuery, offset: int, limit: int) -> list[JobRecord]:
        """Rows of one batch matching ``query``, without their tracebacks."""
        ...

    def count_jobs(self, query: JobQuery) -> int: ...

    def count_runs(self, batch_id: uuid.UUID) -> dict[str, int]:
        """How many rows of each kind the batch has."""
        ...

    # -- maintenance (reconcile, prune) -----------------------------------------------------

    def stale_rows(
        self,
        status: str,
        before: datetime,
        limit: int,
        after: tuple[datetime, uuid.UUID] | None = None,
    ) -> list[JobRecord]:
        """The oldest ``limit`` rows in ``status`` (queued or running) since before ``before``
        (by ``enqueued_at`` or ``started_at``, then id), each with its batch's id, type, status
        and queue loaded; with ``after``, only rows past that (time, id) key, for paging."""
        ...

    def open_queues(self) -> set[str]:
        """RQ queues of open batches and of queued delayed retries."""
        ...

    def stalled_batches(self, quiet_since: datetime, limit: int) -> list[uuid.UUID]:
        """Batches quiet since before ``quiet_since`` that may need a nudge, nothing active."""
        ...

    def batches_to_prune(
        self, finished_before: datetime, unfinished_created_before: datetime | None
    ) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
        """(finished, unfinished) batch ids older than the given times."""
        ...

    def count_rows(self, batch_ids: Sequence[uuid.UUID]) -> int:
        """All rows (jobs and runs) of these batches."""
        ...

    def delete_batches(self, batch_ids: Sequence[uuid.UUID]) -> tuple[int, int]:
        """Delete batches with all their rows; returns (batches, rows)."""
        ...

    # -- worker start-up --------------------------------------------------------------------

    def warm_up(self) -> None:
        """Prepare what a forking worker's horses should inherit (no I/O)."""
        ...
