"""How a batch reacts when one of its members finishes for good: a job, or a nested batch.

The member was counted as it finished (in the same step); an open batch moves on
(:mod:`.flow`) or ends (:mod:`.settling`), and a batch that had already failed or been
cancelled undoes what just completed (:mod:`.compensation`). Signals and RQ jobs follow the
commit (:mod:`.effects`).
"""

from __future__ import annotations

from typing import Any

from .. import signals
from ..states import OPEN_BATCH, BatchType
from ..storage.base import Storage
from ..storage.records import BatchRecord, JobRecord
from . import callbacks, compensation, flow, settling
from .effects import Effects


def member_completed(
    storage: Storage,
    member: JobRecord,
    result: Any,
    fx: Effects,
    batch: BatchRecord | None = None,
    *,
    durable: bool = True,
) -> None:
    """``member`` completed with ``result`` (already recorded and counted, with a chain step's
    context, by ``finish(counted=True)`` or ``complete_member``, which returned ``batch``): move
    on. ``durable=False``: the unit of work decides nothing but what this job's ending starts."""
    fx.send(
        signals.job_completed,
        member.batch_id,
        job_id=str(member.id),
        position=member.position,
        result=result,
    )
    if batch is None:
        batch = storage.get_batch(member.batch_id)
    assert batch is not None
    if batch.status in OPEN_BATCH:
        flow.after_job(storage, batch, fx, previous_result=result, durable=durable)
    elif batch.compensation_status is not None:
        # The batch failed (or was cancelled with compensation) while this member ran: it is
        # undone now that it has completed, once; then the compensation may go on.
        if member.compensation_path:
            compensation.compensate(storage, batch, [member], compensation.reason(batch), fx)
        else:
            compensation.advance(storage, batch.id, fx)


def member_failed(storage: Storage, member: JobRecord, error: str, fx: Effects) -> None:
    """``member`` failed for good (already recorded and counted): continue, tolerate or fail."""
    batch = storage.get_batch(member.batch_id)
    assert batch is not None
    fx.send(
        signals.job_failed, batch.id, job_id=str(member.id), position=member.position, error=error
    )
    callbacks.on_job_failure(storage, batch, member.id, member.position, error, fx)
    parallel = batch.type == BatchType.PARALLEL
    if batch.status in OPEN_BATCH:
        if parallel and batch.allow_failures:
            if member.compensation_path:
                compensation.compensate(storage, batch, [member], error, fx)
            flow.after_job(storage, batch, fx)
        else:
            settling.fail(storage, batch, error, member, fx)
    elif batch.compensation_status is not None:
        # Failed after the batch had finished: in a parallel batch its own compensation runs;
        # either way the batch's compensation may now be able to finish.
        if parallel and member.compensation_path:
            compensation.compensate(storage, batch, [member], error, fx)
        else:
            compensation.advance(storage, batch.id, fx)
