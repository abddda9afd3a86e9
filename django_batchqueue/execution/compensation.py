"""Compensation (sagas): which completed jobs are undone, and in what order.

Compensations run one at a time, newest position first. Once a batch has finished (failed or
cancelled), none starts while a compensable job of it is still running: that job may complete
and then needs undoing in its place. ``compensation_status`` ends when nothing is left to run.
Retries and timeouts of a compensation were resolved at dispatch and stored with its job.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from .. import signals
from ..states import OPEN_BATCH, BatchStatus, CompensationStatus, JobKind, JobStatus
from ..storage.base import Storage
from ..storage.records import NESTED_UNDO, BatchRecord, JobRecord, NewRun
from .effects import Effects

#: The error a cancelled batch's compensations receive.
CANCELLED_REASON = "batch cancelled"


def reason(batch: BatchRecord) -> str:
    """The ``error`` a compensation of ``batch`` is told: why the batch is being undone."""
    if batch.status == BatchStatus.CANCELLED:
        return CANCELLED_REASON
    return batch.error or "batch finished while the job ran"


def run_for(batch: BatchRecord, original: JobRecord, error: str) -> NewRun:
    """The compensation run that undoes ``original``."""
    return NewRun(
        batch_id=batch.id,
        kind=JobKind.COMPENSATION,
        position=original.position,
        job_path=original.compensation_path,
        compensates_id=original.id,
        args=original.args,
        meta={
            "batch_id": str(batch.id),
            "original_job_id": str(original.id),
            "original_job_class": original.job_path,
            "original_position": original.position,
            "original_result": original.result,
            "error": error,
            "context": batch.context,
        },
        **original.compensation_tuning,
    )


def compensate(
    storage: Storage,
    batch: BatchRecord,
    originals: Sequence[JobRecord],
    error: str,
    fx: Effects,
) -> None:
    """Record a compensation run for each original and start them (newest position first)."""
    if originals:
        storage.insert_runs([run_for(batch, original, error) for original in originals])
    storage.set_compensation_status(batch.id, CompensationStatus.RUNNING)
    advance(storage, batch.id, fx)


def undo_batch(
    storage: Storage, batch: BatchRecord, error: str, fx: Effects, also: Sequence[JobRecord] = ()
) -> None:
    """Undo every completed job of a finished batch (and ``also``), once running ones are done."""
    if not batch.has_compensation:
        return
    originals = [*storage.completed_with_compensation(batch.id), *also]
    if originals or storage.running_with_compensation(batch.id):
        compensate(storage, batch, originals, error, fx)


def advance(storage: Storage, batch_id: uuid.UUID, fx: Effects) -> bool:
    """Start the next compensation, or end ``compensation_status`` when none is left.

    A completed nested batch is undone as a unit at its place: its own completed jobs'
    compensations run (newest first) while its run here waits; when they have finished, it is
    reported back here and the next one starts.
    """
    while True:
        if storage.has_active(batch_id, JobKind.COMPENSATION):
            return False
        batch = storage.get_batch(batch_id)
        assert batch is not None
        if batch.status not in OPEN_BATCH and storage.running_with_compensation(batch.id):
            return False  # wait: whatever the running members complete is undone in its place
        nxt = storage.first_pending(batch.id, JobKind.COMPENSATION, newest_first=True)
        if nxt is None:
            return _finish(storage, batch, fx)
        if nxt.job_path != NESTED_UNDO:
            return fx.start(nxt.id, batch.queue, nxt.timeout)
        if not storage.start_virtual(nxt.id):
            return False
        child = storage.child_of(nxt.compensates_id) if nxt.compensates_id else None
        if child is not None and _undo_child(storage, child, nxt.meta.get("error") or "", fx):
            return True  # the nested batch reports back when it is undone
        storage.finish(nxt, JobStatus.COMPLETED)  # nothing in it to undo


def _undo_child(storage: Storage, child: BatchRecord, error: str, fx: Effects) -> bool:
    """Start undoing a completed nested batch; False when nothing in it needs undoing."""
    if not child.has_compensation:
        return False
    originals = storage.completed_with_compensation(child.id)
    if not originals and not storage.running_with_compensation(child.id):
        return False
    compensate(storage, child, originals, error, fx)
    return True


def _finish(storage: Storage, batch: BatchRecord, fx: Effects) -> bool:
    final = (
        CompensationStatus.FAILED
        if storage.compensation_failures(batch.id)
        else CompensationStatus.COMPLETED
    )
    if not storage.set_compensation_status(batch.id, final, only_if=[CompensationStatus.RUNNING]):
        return False
    fx.send(signals.compensation_finished, batch.id, status=final)
    fx.ended.append(batch.id)  # on_finally may follow
    if batch.member_id is not None and batch.parent_id is not None:
        # A nested batch undone as a unit of its parent's compensation: report back.
        run = storage.compensation_of(batch.parent_id, batch.member_id)
        if run is not None and run.status == JobStatus.RUNNING:
            if final == CompensationStatus.COMPLETED:
                storage.finish(run, JobStatus.COMPLETED)
            else:
                storage.finish(
                    run, JobStatus.FAILED, error=f"compensation of nested batch {batch.id} failed"
                )
            advance(storage, batch.parent_id, fx)
    return True
