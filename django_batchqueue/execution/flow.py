"""What starts now: the one place that decides which of a batch's members are released, and when.

Members (jobs, and nested batches) are released at dispatch, when members are added, when a
retry re-queues failed ones, when one finishes, and when reconciliation nudges a quiet batch.
Each of those asks this module.

- A **chain** releases its lowest pending member once none is queued or running. Each step is
  told the previous step's result (``previous_result``).
- A **parallel batch** may have a *limit*: its ``max_concurrency(n)`` cap, and its release
  window (``BATCHQUEUE["RELEASE_WINDOW"]`` at dispatch, default 100), whichever is smaller. At
  most that many of its members are queued or running at once; the rest wait as ``pending``
  and are released in position order. A cap releases as each member finishes. A window is
  filled only as far as the workers on the queue can use (``FILL_PER_WORKER`` jobs per worker,
  never more than the window) and topped up when that has fallen to half: so a batch
  dispatched after it waits behind that many jobs per worker, not a whole window, and releases
  cost one transaction for every ``FILL_PER_WORKER / 2`` finished jobs per worker. With 4 per
  worker (before) the top-ups were a sixth of a worker's time and workers sat idle in dequeue
  between them (docs/performance.md). Without a limit every member is released at once.
- Releasing a **nested batch** starts it: it takes a copy of its parent's context (updated with
  its own) and releases its own first members by the same rules.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from django.utils import timezone

from .. import conf
from ..definitions import JobSpec, NestedSpec, resolve_tuning
from ..serialization import dumps
from ..states import MEMBER_KINDS, OPEN_BATCH, BatchType, JobKind, JobStatus
from ..storage.base import Storage
from ..storage.records import BatchRecord, Counts, JobRecord, NewJob
from . import settling
from .effects import Effects
from .queues import Enqueue, new_rq_job_id, workers_on

#: Where a batch's release window is stored (read from the settings once, at dispatch).
WINDOW_OPTION = "release_window"
#: A windowed batch keeps this many of its jobs handed to RQ per worker on its queue...
FILL_PER_WORKER = 16
#: ...and at least this many (while no worker is known, too).
MIN_FILL = 16
#: ``previous_result`` not given: look it up.
_LOOK_UP: Any = object()


def window_at_dispatch() -> int | None:
    """``RELEASE_WINDOW`` as configured now (``None``: release everything at dispatch)."""
    value = conf.get("RELEASE_WINDOW")
    return None if value is None else int(value)


def limit_of(batch: BatchRecord) -> int | None:
    """How many of a parallel batch's members may be queued or running at once (``None``: all)."""
    limits = [n for n in (batch.max_concurrency, batch.options.get(WINDOW_OPTION)) if n]
    return min(limits) if limits else None


def is_capped(batch: BatchRecord, limit: int) -> bool:
    """Whether ``limit`` is the batch's own cap (released strictly) rather than its window."""
    return bool(batch.max_concurrency and batch.max_concurrency <= limit)


def fill_of(batch: BatchRecord) -> int | None:
    """How many of a limited batch's members to keep queued or running now (``None``: all)."""
    limit = limit_of(batch)
    if limit is None or is_capped(batch, limit):
        return limit
    return min(limit, max(MIN_FILL, FILL_PER_WORKER * workers_on(batch.queue)))


def wants_release(batch: BatchRecord, counts: Counts) -> bool:
    """After a member of ``batch`` finished with ``counts``: is it time to release more?"""
    if not counts.waiting or counts.status not in OPEN_BATCH:
        return False
    fill = fill_of(batch)
    if fill is None:
        return True  # unlimited: only nested batches wait, and they start at once
    if is_capped(batch, fill):
        return counts.active < fill  # a cap: every free place at once
    return counts.active <= fill // 2  # a window: top up once half of what was handed out ran


class PlannedRows:
    """A batch's member rows, built one at a time as storage writes them: :func:`plan`.

    A dispatch of 100,000 jobs would otherwise hold 100,000 row records (and their ids) at
    once before the one COPY; built while the COPY reads them, only one is alive at a time.
    Iterate once. ``waiting`` (how many start pending) is known before; ``enqueues`` (the RQ
    jobs of the rows that start now) is complete once the rows have been iterated.
    """

    def __init__(
        self,
        entries: Sequence[JobSpec | NestedSpec],
        *,
        batch_type: str,
        queue: str,
        defaults: dict[str, Any],
        limit: int | None = None,
        at_dispatch: bool = True,
        held: bool = False,
        member_ids: Mapping[int, uuid.UUID] | None = None,
        nested_undo: str = "",
    ) -> None:
        self._entries = entries
        self._batch_type, self._queue, self._defaults = batch_type, queue, defaults
        self._limit, self._at_dispatch, self._held = limit, at_dispatch, held
        self._member_ids, self._nested_undo = member_ids, nested_undo
        self.enqueues: list[Enqueue] = []
        self.waiting = sum(
            1 for offset, entry in enumerate(entries) if not self._starts(offset, entry)
        )
        self._used = False

    def __len__(self) -> int:
        return len(self._entries)

    def _starts(self, offset: int, entry: JobSpec | NestedSpec) -> bool:
        if self._held or isinstance(entry, NestedSpec):
            return False
        if self._batch_type == BatchType.PARALLEL:
            return self._limit is None or (self._at_dispatch and offset < self._limit)
        return self._at_dispatch and offset == 0

    def __iter__(self) -> Iterator[NewJob]:
        if self._used:
            raise RuntimeError("planned rows are built once (new ids each time)")
        self._used = True
        now = timezone.now()
        for offset, entry in enumerate(self._entries):
            if isinstance(entry, NestedSpec):
                assert self._member_ids is not None
                member_id = self._member_ids[id(entry)]
                yield _member_row(member_id, offset, entry, self._nested_undo)
                continue
            yield self._job_row(offset, entry, self._starts(offset, entry), now)

    def _job_row(self, offset: int, entry: JobSpec, starts: bool, now: Any) -> NewJob:
        tuning = resolve_tuning(entry.tuning, entry.class_tuning, self._defaults)
        row_id = uuid.uuid4()
        row = NewJob(
            id=row_id,
            position=offset,
            job_path=entry.job_path,
            compensation_path=entry.compensation_path,
            args_json=entry.args_json,
            status=JobStatus.QUEUED if starts else JobStatus.PENDING,
            max_retries=tuning["max_retries"],
            retry_delay=tuning["retry_delay"],
            timeout=tuning["timeout"],
            # A row's first RQ job reuses its id; later ones (retries, repairs) get fresh ids.
            rq_job_id=row_id.hex if starts else "",
            enqueued_at=now if starts else None,
            compensation_tuning_json=(
                dumps(resolve_tuning({}, entry.compensation_class_tuning, self._defaults))
                if entry.compensation_path
                else "{}"
            ),
        )
        if starts:
            self.enqueues.append(Enqueue(str(row.id), row.rq_job_id, self._queue, row.timeout))
        return row


#: Member rows for entries (positions 0…; the caller shifts appended ones), built as they are
#: read, and the RQ jobs of those that start with them: a parallel batch's first ``limit`` jobs
#: (all without one) at dispatch, or none of those appended to a limited batch; a chain's first
#: step, at dispatch only. ``held`` (a nested batch, until its parent starts it): none. Nested
#: batches (``member_ids[id(entry)]`` their member row ids) always start pending: starting one
#: needs its rows stored first (:func:`release`, :func:`start_next_step`).
plan = PlannedRows


def _member_row(member_id: uuid.UUID, position: int, entry: NestedSpec, undo: str) -> NewJob:
    return NewJob(
        id=member_id,
        position=position,
        job_path="",
        compensation_path=undo if entry.plan.has_compensation else "",
        args_json="{}",
        status=JobStatus.PENDING,
        max_retries=0,
        retry_delay=0.0,
        timeout=None,
        rq_job_id="",
        enqueued_at=None,
        kind=JobKind.BATCH,
    )


def release(storage: Storage, batch: BatchRecord, fx: Effects) -> int:
    """Release waiting members of a parallel batch into its free places (all of them without
    a limit: nested batches wait only until their rows are stored); how many."""
    fill = fill_of(batch) or batch.total_jobs
    released = storage.release_waiting(batch.id, fill)
    for row_id, rq_job_id, timeout, kind in released:
        if kind == JobKind.BATCH:
            start_child(storage, batch, row_id, fx)
        else:
            fx.enqueue(Enqueue(str(row_id), rq_job_id, batch.queue, timeout))
    return len(released)


def start_child(
    storage: Storage,
    parent: BatchRecord,
    member_id: uuid.UUID,
    fx: Effects,
    previous_result: Any = _LOOK_UP,
) -> None:
    """Start the nested batch of member row ``member_id`` (already marked running).

    The first time, it takes a copy of the parent's context as it is now, updated with its own;
    a nested batch restarted by a retry keeps the context it had. Then it releases its first
    members by its own rules.
    """
    child = storage.child_of(member_id)
    assert child is not None, f"member {member_id} has no nested batch"
    if child.started_at is None:
        child.context = {**parent.context, **child.context}
        storage.count(child.id, context=child.context)
    storage.mark_started(child.id)
    storage.mark_started(parent.id)
    child.status = "running"
    if child.type == BatchType.SEQUENTIAL:
        start_next_step(storage, child, fx, previous_result)
    else:
        release(storage, child, fx)


def after_dispatch(storage: Storage, batch: BatchRecord, fx: Effects) -> None:
    """A top batch was stored: start the nested batches that start with it."""
    if not batch.has_children:
        return
    if batch.type == BatchType.SEQUENTIAL:
        if not storage.has_active(batch.id, MEMBER_KINDS):
            start_next_step(storage, batch, fx, previous_result=None)
    else:
        release(storage, batch, fx)


def after_add(storage: Storage, batch: BatchRecord, fx: Effects) -> None:
    """Members were appended: a chain with nothing running starts the next step; a parallel
    batch releases what fits."""
    if batch.type == BatchType.SEQUENTIAL:
        if not storage.has_active(batch.id, MEMBER_KINDS):
            start_next_step(storage, batch, fx)
    else:
        release(storage, batch, fx)


def after_retry(
    storage: Storage, batch: BatchRecord, rows: Sequence[JobRecord], fx: Effects
) -> None:
    """Failed members are pending again: a chain resumes at the first; a parallel batch runs
    them all, or as many as its limit allows."""
    if batch.type == BatchType.SEQUENTIAL:
        start_next_step(storage, batch, fx)
    else:
        release(storage, batch, fx)


def after_job(
    storage: Storage,
    batch: BatchRecord,
    fx: Effects,
    previous_result: Any = _LOOK_UP,
    *,
    durable: bool = True,
) -> None:
    """A member of an open batch finished: a chain moves to its next step (or settles when none
    is left); a parallel batch releases what its limit allows, or settles once all finished.
    ``durable=False``: the decision is only this job's (see :func:`start_next_step`)."""
    if batch.type == BatchType.SEQUENTIAL:
        if not start_next_step(storage, batch, fx, previous_result, durable=durable):
            settling.try_settle(storage, batch.id, fx)
    elif not (wants_release(batch, counts_of(batch)) and release(storage, batch, fx)):
        settling.try_settle(storage, batch.id, fx)


def counts_of(batch: BatchRecord) -> Counts:
    return Counts(
        batch.total_jobs,
        batch.completed_jobs,
        batch.failed_jobs,
        batch.cancelled_jobs,
        batch.status,
        batch.waiting_jobs,
    )


def start_next_step(
    storage: Storage,
    batch: BatchRecord,
    fx: Effects,
    previous_result: Any = _LOOK_UP,
    *,
    durable: bool = True,
) -> bool:
    """Start a chain's lowest pending member, telling it the previous step's result.

    With the result known (a step just completed), finding and queueing the next step is one
    storage call (:meth:`~django_batchqueue.storage.base.Storage.queue_next_step`: one
    statement on PostgreSQL). ``durable=False`` when this unit of work decides nothing but
    that hand-off: the backend may then commit it asynchronously (``ASYNC_JOB_COMMITS``).
    """
    if previous_result is not _LOOK_UP:
        rq_id = new_rq_job_id()
        meta = {"previous_result": previous_result}
        step = storage.queue_next_step(batch.id, rq_id, meta, durable=durable)
        if step.row_id is None:
            return False
        if step.kind == JobKind.BATCH:
            return _start_nested_step(storage, batch, step.row_id, fx, previous_result)
        if step.queued:
            fx.enqueue(Enqueue(str(step.row_id), rq_id, batch.queue, step.timeout))
        return step.queued
    nxt = storage.first_pending(batch.id, MEMBER_KINDS)
    if nxt is None:
        return False
    previous_result = previous_result_for(storage, batch, nxt.position)
    if nxt.kind == JobKind.BATCH:
        return _start_nested_step(storage, batch, nxt.id, fx, previous_result)
    return fx.start(
        nxt.id,
        batch.queue,
        nxt.timeout,
        job_of=batch.id,
        meta={"previous_result": previous_result},
    )


def _start_nested_step(
    storage: Storage, batch: BatchRecord, member_id: uuid.UUID, fx: Effects, previous_result: Any
) -> bool:
    if not storage.start_virtual(member_id, batch_id=batch.id):
        return False
    start_child(storage, batch, member_id, fx, previous_result)
    return True


def previous_result_for(storage: Storage, batch: BatchRecord, position: int) -> Any:
    """The result a chain step at ``position`` sees as ``previous_result``: the step before
    it; for the first step of a chain nested as a chain step, the parent's step before it."""
    if position > 0:
        return storage.result_at(batch.id, position - 1)
    if batch.member_id is None or batch.parent_id is None:
        return None
    member = storage.load_job(batch.member_id)
    if member is None or member.loaded_batch.type != BatchType.SEQUENTIAL:
        return None
    return previous_result_for(storage, member.loaded_batch, member.position)
