"""How a batch ends: it completes (settles), fails, or is cancelled, exactly once.

Each ending is one conditional transition of the batch (open -> final) whose winner alone
creates the outcome's callbacks, starts its compensations and sends its signal; the
:mod:`.aftermath` then runs them in order.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from .. import signals
from ..states import (
    MEMBER_KINDS,
    OPEN_BATCH,
    BatchStatus,
    BatchType,
    CallbackEvent,
    CompensationStatus,
    JobKind,
    JobStatus,
)
from ..storage.base import JobQuery, Storage
from ..storage.records import BatchRecord, JobRecord
from . import callbacks, compensation
from .effects import Effects


def try_settle(storage: Storage, batch_id: uuid.UUID, fx: Effects, recount: bool = False) -> bool:
    """open -> completed if every job has finished; True for the one caller that did it.
    ``recount``: reconcile's nudge, which trusts the rows over counters that fell behind, and
    fails a strict batch whose failed member's reaction was lost (a worker killed between
    recording the failure and failing the batch: it must not complete)."""
    if not storage.settle(batch_id, recount=recount):
        return recount and fail_for_a_lost_failure(storage, batch_id, fx)
    batch = storage.get_batch(batch_id)
    assert batch is not None
    callbacks.on_settled(storage, batch, fx)
    storage.outcome_written(batch_id)
    fx.send(signals.batch_finished, batch_id, status=BatchStatus.COMPLETED)
    fx.ended.append(batch_id)
    return True


def fail(
    storage: Storage, batch: BatchRecord, error: str, failed_row: JobRecord, fx: Effects
) -> bool:
    """open -> failed because ``failed_row`` failed for good: unstarted jobs are cancelled,
    ``on_failure`` runs, and the completed jobs are undone (in a parallel batch the failed job's
    own compensation runs too)."""
    if not storage.close(batch.id, BatchStatus.FAILED, error):
        return False
    storage.cancel_unstarted(batch.id)
    batch.status, batch.error = BatchStatus.FAILED, error
    # All or nothing: the nested batches still open are cancelled (and undo themselves if
    # anything in the batch is undone).
    _cancel_children(storage, batch, batch.has_compensation, fx)
    callbacks.on_failed(storage, batch, error)
    also = [failed_row] if batch.type == BatchType.PARALLEL and failed_row.compensation_path else []
    compensation.undo_batch(storage, batch, error, fx, also=also)
    storage.outcome_written(batch.id)
    fx.send(signals.batch_failed, batch.id, error=error)
    fx.ended.append(batch.id)
    return True


def cancel(storage: Storage, batch: BatchRecord, compensate: bool, fx: Effects) -> bool:
    """open -> cancelled, with every open nested batch below it; with ``compensate`` the
    completed work of the whole tree is undone, newest first."""
    if not storage.close(batch.id, BatchStatus.CANCELLED, "cancelled", undo=compensate):
        return False
    storage.cancel_unstarted(batch.id)
    batch.status = BatchStatus.CANCELLED
    _cancel_children(storage, batch, compensate, fx)
    if compensate:
        compensation.undo_batch(storage, batch, compensation.CANCELLED_REASON, fx)
    storage.outcome_written(batch.id)
    fx.send(signals.batch_cancelled, batch.id, compensate=compensate)
    fx.ended.append(batch.id)
    return True


def _cancel_children(storage: Storage, batch: BatchRecord, compensate: bool, fx: Effects) -> None:
    if not batch.has_children:
        return
    for _, child in storage.children(batch.id):
        if child.status in OPEN_BATCH:
            cancel(storage, child, compensate, fx)


def redo_follow_ups(storage: Storage, batch: BatchRecord, fx: Effects) -> None:
    """Finish an ending whose follow-ups a worker killed mid-decision left unwritten.

    Where an ending and its follow-ups are not one transaction (Redis storage), the ending
    keeps ``acting`` until they are all written. Reconcile's nudge, holding the tree's lock,
    calls this for a batch still marked so: each follow-up is done unless it already was (the
    outcome's callbacks exist, compensation has started), so running it twice does nothing more.
    """
    undo = batch.acting.endswith("+undo")
    if batch.status != BatchStatus.COMPLETED:
        storage.cancel_unstarted(batch.id)
    if batch.status == BatchStatus.COMPLETED:
        settled_events = (CallbackEvent.ON_COMPLETE, CallbackEvent.ON_FAILURE)
        if not _has_callbacks(storage, batch, settled_events):
            callbacks.on_settled(storage, batch, fx)
    elif batch.status == BatchStatus.FAILED:
        _cancel_children(storage, batch, batch.has_compensation, fx)
        if not _has_callbacks(storage, batch, (CallbackEvent.ON_FAILURE,)):
            callbacks.on_failed(storage, batch, batch.error)
        _start_undo(storage, batch, batch.error, fx, also=_failed_with_undo(storage, batch))
    elif batch.status == BatchStatus.CANCELLED:
        _cancel_children(storage, batch, undo, fx)
        if undo:
            _start_undo(storage, batch, compensation.CANCELLED_REASON, fx)
    storage.outcome_written(batch.id)
    fx.ended.append(batch.id)


def _has_callbacks(storage: Storage, batch: BatchRecord, events: tuple[str, ...]) -> bool:
    """Whether this ending's callbacks were created: rows of ``events`` created since it (an
    earlier outcome's, before a ``retry_failed``, do not count)."""
    query = JobQuery(batch_id=batch.id, kind=JobKind.CALLBACK)
    since = batch.finished_at
    return any(
        r.event in events and (since is None or r.created_at >= since)
        for r in storage.list_jobs(query, 0, 1_000_000)
    )


def _start_undo(
    storage: Storage, batch: BatchRecord, error: str, fx: Effects, also: Sequence[JobRecord] = ()
) -> None:
    """Undo what the ending undoes and no run has been stored for yet; start stored runs whose
    start was lost; or, with members still running, mark compensation under way (each is
    undone as it completes)."""
    if not batch.has_compensation:
        return
    comps = storage.list_jobs(JobQuery(batch_id=batch.id, kind=JobKind.COMPENSATION), 0, 1_000_000)
    undone = {r.compensates_id for r in comps}
    todo = [
        r for r in [*storage.completed_with_compensation(batch.id), *also] if r.id not in undone
    ]
    if todo:
        compensation.compensate(storage, batch, todo, error, fx)
    elif batch.compensation_status != CompensationStatus.RUNNING and (
        any(r.status == JobStatus.PENDING for r in comps)
        or storage.running_with_compensation(batch.id)
    ):
        compensation.compensate(storage, batch, [], error, fx)


def _failed_with_undo(storage: Storage, batch: BatchRecord) -> list[JobRecord]:
    """In a parallel batch, the failed job that failed it is undone too (as :func:`fail` does)."""
    if batch.type != BatchType.PARALLEL:
        return []
    query = JobQuery(batch_id=batch.id, kind=JobKind.JOB, status=JobStatus.FAILED)
    failed = [r for r in storage.list_jobs(query, 0, 1_000_000) if r.compensation_path]
    return [r for r in failed if r.error == batch.error][:1]


def fail_for_a_lost_failure(storage: Storage, batch_id: uuid.UUID, fx: Effects) -> bool:
    """An open strict batch (a chain, or a parallel batch not allowing failures) with a failed
    member fails now, as it would have when that member failed."""
    batch = storage.get_batch(batch_id)
    if batch is None or batch.status not in OPEN_BATCH or not batch.failed_jobs:
        return False
    if batch.type == BatchType.PARALLEL and batch.allow_failures:
        return False
    query = JobQuery(batch_id=batch.id, kind=MEMBER_KINDS, status=JobStatus.FAILED)
    failed = storage.list_jobs(query, 0, 1)
    if not failed:
        return False
    return fail(storage, batch, failed[0].error, failed[0], fx)
