"""What starts now: the one place that decides which of a batch's jobs are released, and when.

Jobs are released at dispatch, when jobs are added, when a retry re-queues failed ones, when a
job finishes, and when reconciliation nudges a quiet batch. Each of those asks this module.

- A **chain** releases its lowest pending step once no step is queued or running.
- A **parallel batch** may have a *limit*: its ``max_concurrency(n)`` cap, and its release
  window (``BATCHQUEUE["RELEASE_WINDOW"]`` at dispatch, default 100), whichever is smaller. At
  most that many of its jobs are queued or running at once; the rest wait as ``pending`` and
  are released in position order. A cap releases as each job finishes. A window is filled
  only as far as the workers on the queue can use (a few jobs per worker, never more than the
  window) and topped up when that has fallen to half: so a batch dispatched after it waits for
  a few jobs per worker, not for a whole window, and releases cost one transaction for every
  few finished jobs. Without a limit every job is queued at once.

Per-batch caps, fair turns and nested batches change this module, not the state machines that
call it. (:func:`~django_batchqueue.execution.aftermath.nudge` asks it too.)
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.utils import timezone

from .. import conf
from ..definitions import JobSpec, resolve_tuning
from ..serialization import dumps
from ..states import OPEN_BATCH, BatchType, JobKind, JobStatus
from ..storage.base import Storage
from ..storage.records import BatchRecord, Counts, JobRecord, NewJob
from . import settling
from .effects import Effects
from .queues import Enqueue, workers_on

#: Where a batch's release window is stored (read from the settings once, at dispatch).
WINDOW_OPTION = "release_window"
#: A windowed batch keeps this many of its jobs handed to RQ per worker on its queue...
FILL_PER_WORKER = 4
#: ...and at least this many (while no worker is known, too).
MIN_FILL = 8


def window_at_dispatch() -> int | None:
    """``RELEASE_WINDOW`` as configured now (``None``: release everything at dispatch)."""
    value = conf.get("RELEASE_WINDOW")
    return None if value is None else int(value)


def limit_of(batch: BatchRecord) -> int | None:
    """How many of a parallel batch's jobs may be queued or running at once (``None``: all)."""
    limits = [n for n in (batch.max_concurrency, batch.options.get(WINDOW_OPTION)) if n]
    return min(limits) if limits else None


def is_capped(batch: BatchRecord, limit: int) -> bool:
    """Whether ``limit`` is the batch's own cap (released strictly) rather than its window."""
    return bool(batch.max_concurrency and batch.max_concurrency <= limit)


def fill_of(batch: BatchRecord) -> int | None:
    """How many of a limited batch's jobs to keep queued or running now (``None``: all)."""
    limit = limit_of(batch)
    if limit is None or is_capped(batch, limit):
        return limit
    return min(limit, max(MIN_FILL, FILL_PER_WORKER * workers_on(batch.queue)))


def wants_release(batch: BatchRecord, counts: Counts) -> bool:
    """After a job of ``batch`` finished with ``counts``: is it time to release more?"""
    if not counts.waiting or counts.status not in OPEN_BATCH:
        return False
    fill = fill_of(batch)
    if fill is None:
        return False
    if is_capped(batch, fill):
        return counts.active < fill  # a cap: every free place at once
    return counts.active <= fill // 2  # a window: top up once half of what was handed out ran


def plan(
    specs: Sequence[JobSpec],
    *,
    batch_type: str,
    queue: str,
    defaults: dict[str, Any],
    limit: int | None = None,
    start_position: int = 0,
    at_dispatch: bool = True,
) -> tuple[list[NewJob], list[Enqueue]]:
    """Rows for ``specs`` at positions ``start_position...``, and the RQ jobs of those that start
    with them: a parallel batch's first ``limit`` jobs (all without one) at dispatch, or none of
    the jobs appended to a limited batch (:func:`after_add` releases them); a chain's first
    step, at dispatch only (steps appended to a running chain wait their turn).
    """
    now = timezone.now()
    rows: list[NewJob] = []
    enq: list[Enqueue] = []
    for offset, spec in enumerate(specs):
        tuning = resolve_tuning(spec.tuning, spec.class_tuning, defaults)
        if batch_type == BatchType.PARALLEL:
            starts = limit is None or (at_dispatch and offset < limit)
        else:
            starts = at_dispatch and offset == 0
        row_id = uuid.uuid4()
        row = NewJob(
            id=row_id,
            position=start_position + offset,
            job_path=spec.job_path,
            compensation_path=spec.compensation_path,
            args_json=spec.args_json,
            status=JobStatus.QUEUED if starts else JobStatus.PENDING,
            max_retries=tuning["max_retries"],
            retry_delay=tuning["retry_delay"],
            timeout=tuning["timeout"],
            # A row's first RQ job reuses its id; later ones (retries, repairs) get fresh ids.
            rq_job_id=row_id.hex if starts else "",
            enqueued_at=now if starts else None,
            compensation_tuning_json=(
                dumps(resolve_tuning({}, spec.compensation_class_tuning, defaults))
                if spec.compensation_path
                else "{}"
            ),
        )
        if starts:
            enq.append(Enqueue(str(row.id), row.rq_job_id, queue, row.timeout))
        rows.append(row)
    return rows, enq


def waiting_in(rows: Sequence[NewJob]) -> int:
    return sum(1 for row in rows if row.status == JobStatus.PENDING)


def release(storage: Storage, batch: BatchRecord, fx: Effects) -> int:
    """Release waiting jobs of a limited parallel batch into its free places; how many."""
    fill = fill_of(batch)
    if fill is None:
        return 0
    released = storage.release_waiting(batch.id, fill)
    for row_id, rq_job_id, timeout in released:
        fx.enqueue(Enqueue(str(row_id), rq_job_id, batch.queue, timeout))
    return len(released)


def after_add(storage: Storage, batch: BatchRecord, fx: Effects) -> None:
    """Jobs were appended: a chain with nothing running starts the next step; a limited
    parallel batch releases what fits."""
    if batch.type == BatchType.SEQUENTIAL:
        if not storage.has_active(batch.id, JobKind.JOB):
            start_next_step(storage, batch, fx)
    else:
        release(storage, batch, fx)


def after_retry(
    storage: Storage, batch: BatchRecord, rows: Sequence[JobRecord], fx: Effects
) -> None:
    """Failed jobs are pending again: a chain resumes at the first; a parallel batch runs them
    all, or as many as its limit allows."""
    if batch.type == BatchType.SEQUENTIAL:
        starting: Sequence[JobRecord] = rows[:1]
    elif limit_of(batch) is not None:
        release(storage, batch, fx)
        return
    else:
        starting = rows
    for row in starting:
        fx.start(row.id, batch.queue, row.timeout, job_of=batch.id)


def after_job(
    storage: Storage, batch: BatchRecord, fx: Effects, previous_result: Any = None
) -> None:
    """A job of an open batch finished: a chain moves to its next step (or settles when none
    is left); a parallel batch releases what its limit allows, or settles once all finished."""
    if batch.type == BatchType.SEQUENTIAL:
        if not start_next_step(storage, batch, fx):
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


def start_next_step(storage: Storage, batch: BatchRecord, fx: Effects) -> bool:
    nxt = storage.first_pending(batch.id, JobKind.JOB)
    return nxt is not None and fx.start(nxt.id, batch.queue, nxt.timeout, job_of=batch.id)
