"""What follows an outcome, in order: its callbacks, its compensations, then ``on_finally``.

A batch that reached an outcome (or whose callbacks or compensation moved on) is carried one
step further each time: the next callback starts once none runs; once no callback is left and
compensation has finished, the ``on_finally`` callbacks are created (once per outcome) and run;
when those are done too, nothing of the outcome is left to run, and a nested batch ends as a
member of its parent (which reacts as to any member; so every callback of a child runs before
its parent's). :func:`nudge` is the same walk for a batch that went quiet, which
reconciliation calls.
"""

from __future__ import annotations

import uuid

from ..states import (
    MEMBER_KINDS,
    OPEN_BATCH,
    BatchStatus,
    BatchType,
    CompensationStatus,
    JobKind,
    JobStatus,
)
from ..storage.base import Storage
from ..storage.records import BatchRecord
from . import callbacks, compensation, flow, reactions, settling
from .effects import Effects


def after_outcomes(storage: Storage, fx: Effects) -> None:
    """Carry every batch the current decision ended (``fx.ended``) through its aftermath."""
    while fx.ended:
        batch_id = fx.ended.pop(0)
        _step(storage, batch_id, fx)


def _step(storage: Storage, batch_id: uuid.UUID, fx: Effects) -> bool:
    """One step of a batch's aftermath; whether something started or changed."""
    batch = storage.get_batch(batch_id)
    if batch is None:
        return False
    if callbacks.advance(storage, batch, fx):
        return True  # a callback runs (on_job_failure ones too, while the batch is open)
    if batch.status in OPEN_BATCH or batch.compensation_status == CompensationStatus.RUNNING:
        return False  # compensation.advance reports the batch again when it has finished
    if batch.has_children and storage.has_active(batch.id, JobKind.BATCH):
        return False  # a nested batch is still winding down: the child before the parent
    if batch.finalized_at is None and storage.finalize(batch.id):
        fresh = storage.get_batch(batch.id)
        assert fresh is not None
        if callbacks.on_finally(storage, fresh) and callbacks.advance(storage, fresh, fx):
            return True
    # Nothing of the outcome is left to run: a nested batch now ends as a member of its parent.
    return _member_ended(storage, batch, fx)


def _member_ended(storage: Storage, child: BatchRecord, fx: Effects) -> bool:
    """A nested batch's outcome is over: its member row finishes, and the parent reacts."""
    if child.member_id is None:
        return False
    member = storage.load_job(child.member_id)
    if member is None or member.status != JobStatus.RUNNING:
        return False  # already ended (or cancelled before it started)
    parent = member.loaded_batch
    if child.status == BatchStatus.COMPLETED:
        result = storage.member_result(child)
        # A chain nested as a chain step hands its context on, as if its steps were inline.
        chain = parent.type == BatchType.SEQUENTIAL and child.type == BatchType.SEQUENTIAL
        context = child.context if chain else None
        if not storage.finish(
            member, JobStatus.COMPLETED, result=result, counted=True, context=context
        ):
            return False
        reactions.member_completed(storage, member, result, fx)
    elif child.status == BatchStatus.CANCELLED and parent.status not in OPEN_BATCH:
        # Cancelled with its parent: one of the parent's cancelled members.
        if not storage.finish(member, JobStatus.CANCELLED, counted=True):
            return False
        compensation.advance(storage, parent.id, fx)
        fx.ended.append(parent.id)
    else:
        error = (
            child.error
            if child.status == BatchStatus.FAILED
            else f"nested batch {child.id} was cancelled"
        )
        if not storage.finish(member, JobStatus.FAILED, error=error, counted=True):
            return False
        reactions.member_failed(storage, member, error, fx)
    fx.ended.append(parent.id)
    return True


def nudge(storage: Storage, batch_id: uuid.UUID) -> bool:
    """Move a batch on if nothing of it is queued or running (reconciliation's last step).

    Settles a batch whose jobs have all finished, starts a chain's next pending step or a
    parallel batch's waiting jobs, the next waiting callback, the next compensation and the
    ``on_finally`` callbacks. Returns whether anything moved.
    """
    fx = Effects(storage)
    moved = False
    with storage.decide(batch_id) as exists:
        if not exists:
            return False
        batch = storage.get_batch(batch_id)
        assert batch is not None
        if batch.acting:  # a worker died between the ending and its follow-ups
            settling.redo_follow_ups(storage, batch, fx)
            moved = True
            batch = storage.get_batch(batch_id)
            assert batch is not None
        if batch.status in OPEN_BATCH and not storage.has_active(batch_id, MEMBER_KINDS):
            if settling.fail_for_a_lost_failure(storage, batch_id, fx):
                moved = True  # a strict batch's failed member: nothing after it may start
            else:
                if batch.type == BatchType.SEQUENTIAL:
                    stepped = flow.start_next_step(storage, batch, fx)
                else:
                    stepped = flow.release(storage, batch, fx) > 0
                settled = not stepped and settling.try_settle(storage, batch_id, fx, recount=True)
                moved = stepped or settled or moved
        if batch.compensation_status == CompensationStatus.RUNNING:
            moved = compensation.advance(storage, batch_id, fx) or moved
        moved = _step(storage, batch_id, fx) or moved
        after_outcomes(storage, fx)
        moved = moved or bool(fx.enqueues)
        fx.release()
    return moved
