"""What follows an outcome, in order: its callbacks, its compensations, then ``on_finally``.

A batch that reached an outcome (or whose callbacks or compensation moved on) is carried one
step further each time: the next callback starts once none runs; once no callback is left and
compensation has finished, the ``on_finally`` callbacks are created (once per outcome) and run;
when those are done too, nothing of the outcome is left to run. :func:`nudge` is the same walk
for a batch that went quiet, which reconciliation calls.
"""

from __future__ import annotations

import uuid

from ..states import OPEN_BATCH, BatchType, CompensationStatus, JobKind
from ..storage.base import Storage
from . import callbacks, compensation, flow, settling
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
    if batch.finalized_at is None and storage.finalize(batch.id):
        fresh = storage.get_batch(batch.id)
        assert fresh is not None
        if callbacks.on_finally(storage, fresh) and callbacks.advance(storage, fresh, fx):
            return True
    return False


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
        if batch.status in OPEN_BATCH and not storage.has_active(batch_id, JobKind.JOB):
            if batch.type == BatchType.SEQUENTIAL:
                moved = flow.start_next_step(storage, batch, fx)
            else:
                moved = flow.release(storage, batch, fx) > 0
            moved = moved or settling.try_settle(storage, batch_id, fx)
        if batch.compensation_status == CompensationStatus.RUNNING:
            moved = compensation.advance(storage, batch_id, fx) or moved
        moved = _step(storage, batch_id, fx) or moved
        after_outcomes(storage, fx)
        moved = moved or bool(fx.enqueues)
        fx.release()
    return moved
