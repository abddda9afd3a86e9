"""What starts now: the one place that decides which of a batch's jobs are released, and when.

Jobs are released at dispatch, when jobs are added, when a retry re-queues failed ones, when a
job finishes, and when reconciliation nudges a quiet batch. Each of those asks this module. A
parallel batch releases everything at once; a chain releases its lowest pending step once no
step is queued or running. Per-batch caps, fair turns and nested batches change this module,
not the state machines that call it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.utils import timezone

from ..definitions import JobSpec, resolve_tuning
from ..serialization import dumps
from ..states import OPEN_BATCH, BatchType, CompensationStatus, JobKind, JobStatus
from ..storage.base import Storage
from ..storage.records import BatchRecord, JobRecord, NewJob
from . import callbacks, compensation, settling
from .effects import Effects
from .queues import Enqueue


def plan(
    specs: Sequence[JobSpec],
    *,
    batch_type: str,
    queue: str,
    defaults: dict[str, Any],
    start_position: int = 0,
    at_dispatch: bool = True,
) -> tuple[list[NewJob], list[Enqueue]]:
    """Rows for ``specs`` at positions ``start_position...``, and the RQ jobs of those that start
    with them: every job of a parallel batch; a chain's first step, at dispatch only (steps
    appended to a running chain wait their turn).
    """
    now = timezone.now()
    rows: list[NewJob] = []
    enq: list[Enqueue] = []
    for offset, spec in enumerate(specs):
        tuning = resolve_tuning(spec.tuning, spec.class_tuning, defaults)
        starts = batch_type == BatchType.PARALLEL or (at_dispatch and offset == 0)
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


def after_add(storage: Storage, batch: BatchRecord, fx: Effects) -> None:
    """Jobs were appended: a chain with nothing running starts the next step."""
    if batch.type == BatchType.SEQUENTIAL and not storage.has_active(batch.id, JobKind.JOB):
        _start_next_step(storage, batch, fx)


def after_retry(
    storage: Storage, batch: BatchRecord, rows: Sequence[JobRecord], fx: Effects
) -> None:
    """Failed jobs are pending again: a chain resumes at the first, a parallel batch runs all."""
    starting = rows[:1] if batch.type == BatchType.SEQUENTIAL else rows
    for row in starting:
        fx.start(row.id, batch.queue, row.timeout)


def after_job(storage: Storage, batch: BatchRecord, fx: Effects) -> None:
    """A job of an open batch completed: a chain moves to its next step (or settles when none
    is left); a parallel batch settles once every job has finished."""
    if batch.type == BatchType.SEQUENTIAL:
        if not _start_next_step(storage, batch, fx):
            settling.try_settle(storage, batch.id, fx)
    else:
        settling.try_settle(storage, batch.id, fx)


def _start_next_step(storage: Storage, batch: BatchRecord, fx: Effects) -> bool:
    nxt = storage.first_pending(batch.id, JobKind.JOB)
    return nxt is not None and fx.start(nxt.id, batch.queue, nxt.timeout)


def nudge(storage: Storage, batch_id: uuid.UUID) -> bool:
    """Move a batch on if nothing of it is queued or running (reconciliation's last step).

    Settles a batch whose jobs have all finished, starts a chain's next pending step, the next
    waiting callback and the next compensation. Returns whether anything moved.
    """
    fx = Effects(storage)
    moved = False
    with storage.decide(batch_id) as exists:
        if not exists:
            return False
        batch = storage.get_batch(batch_id)
        assert batch is not None
        if batch.status in OPEN_BATCH and not storage.has_active(batch_id, JobKind.JOB):
            if batch.type == BatchType.SEQUENTIAL:
                moved = _start_next_step(storage, batch, fx) or settling.try_settle(
                    storage, batch_id, fx
                )
            else:
                moved = settling.try_settle(storage, batch_id, fx)
        moved = callbacks.advance(storage, batch, fx) or moved
        if batch.compensation_status == CompensationStatus.RUNNING:
            moved = compensation.advance(storage, batch_id, fx) or moved
        fx.release()
    return moved
