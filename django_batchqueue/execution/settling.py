"""How a batch ends: it completes (settles), fails, or is cancelled, exactly once.

Each ending is one conditional transition of the batch (open -> final) whose winner alone
creates the outcome's callbacks, starts its compensations and sends its signal; the
:mod:`.aftermath` then runs them in order.
"""

from __future__ import annotations

import uuid

from .. import signals
from ..states import OPEN_BATCH, BatchStatus, BatchType
from ..storage.base import Storage
from ..storage.records import BatchRecord, JobRecord
from . import callbacks, compensation
from .effects import Effects


def try_settle(storage: Storage, batch_id: uuid.UUID, fx: Effects) -> bool:
    """open -> completed if every job has finished; True for the one caller that did it."""
    if not storage.settle(batch_id):
        return False
    batch = storage.get_batch(batch_id)
    assert batch is not None
    callbacks.on_settled(storage, batch, fx)
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
    fx.send(signals.batch_failed, batch.id, error=error)
    fx.ended.append(batch.id)
    return True


def cancel(storage: Storage, batch: BatchRecord, compensate: bool, fx: Effects) -> bool:
    """open -> cancelled, with every open nested batch below it; with ``compensate`` the
    completed work of the whole tree is undone, newest first."""
    if not storage.close(batch.id, BatchStatus.CANCELLED, "cancelled"):
        return False
    storage.cancel_unstarted(batch.id)
    batch.status = BatchStatus.CANCELLED
    _cancel_children(storage, batch, compensate, fx)
    if compensate:
        compensation.undo_batch(storage, batch, compensation.CANCELLED_REASON, fx)
    fx.send(signals.batch_cancelled, batch.id, compensate=compensate)
    fx.ended.append(batch.id)
    return True


def _cancel_children(storage: Storage, batch: BatchRecord, compensate: bool, fx: Effects) -> None:
    if not batch.has_children:
        return
    for _, child in storage.children(batch.id):
        if child.status in OPEN_BATCH:
            cancel(storage, child, compensate, fx)
