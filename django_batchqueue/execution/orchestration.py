"""What happens after a run ends: advance chains, settle batches, fail them, start callbacks and
compensations.

Every function here runs inside one transaction that starts by writing to the batch row (a
counter increment or :meth:`~django_batchqueue.storage.sql.SQLStorage.lock`). Structural
decisions for one batch are therefore serialised, and "who acts" is always decided by the row
count of a conditional UPDATE. RQ jobs and signals go out only after the commit.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from .. import signals
from ..definitions import effective_tuning
from ..exceptions import BatchQueueError
from ..jobs import resolve
from ..models import Batch, BatchJob
from ..states import (
    OPEN_BATCH,
    BatchStatus,
    BatchType,
    CallbackEvent,
    CompensationStatus,
    JobKind,
    JobStatus,
)
from ..storage import get_storage
from .queues import Enqueue, enqueue_on_commit, new_rq_job_id

logger = logging.getLogger("django_batchqueue")


def _send_after_commit(signal: Any, batch_id: Any, **kwargs: Any) -> None:
    transaction.on_commit(
        lambda: signal.send_robust(sender=Batch, batch_id=str(batch_id), **kwargs)
    )


def queue_row(row: BatchJob, queue: str, enq: list[Enqueue]) -> bool:
    """pending -> queued, and schedule its RQ job for after the commit."""
    rq_id = new_rq_job_id()
    if get_storage().queue_pending(row, rq_id):
        enq.append(Enqueue(str(row.pk), rq_id, queue, row.timeout))
        return True
    return False


def _tuning_for(path: str, batch: Batch | None) -> dict[str, Any]:
    try:
        target = resolve(path)
    except BatchQueueError:
        return {"max_retries": 0, "retry_delay": 0.0, "timeout": None}  # the run will fail loudly
    return effective_tuning({}, target, batch.options if batch is not None else {})


# ---------------------------------------------------------------------------- outcomes


def run_succeeded(row: BatchJob, result: Any, context: dict[str, Any] | None) -> None:
    """Record a successful run of a job, callback or compensation and act on it."""
    storage = get_storage()
    enq: list[Enqueue] = []
    parallel = row.batch.type == BatchType.PARALLEL
    if row.kind == JobKind.JOB and parallel and not row.compensation_path:
        # Hot path of a parallel batch: one statement completes the job and counts it; only a
        # run that sees every job finished goes on to (try to) settle the batch.
        counts = storage.complete_and_count(row, result)
        if counts is None:
            return
        _send_after_commit(
            signals.job_completed,
            row.batch_id,
            job_id=str(row.pk),
            position=row.position,
            result=result,
        )
        if counts.all_done and counts.status in OPEN_BATCH:
            with storage.atomic():
                _try_settle(row.batch_id, enq)
                enqueue_on_commit(enq)
        return
    with storage.atomic():
        if not storage.finish(row, JobStatus.COMPLETED, result=result):
            return
        if row.kind == JobKind.JOB:
            _job_completed(row, result, context, enq)
        elif row.kind == JobKind.CALLBACK:
            storage.lock(row.batch_id)
            _advance_callbacks(row.batch_id, enq)
        else:
            storage.lock(row.batch_id)
            _advance_compensations(row.batch_id, enq)
        enqueue_on_commit(enq)


def run_failed(row: BatchJob, error: str, traceback: str = "", permanent: bool = False) -> None:
    """Record a failed run: retry it if it has retries left, else fail it for good."""
    storage = get_storage()
    enq: list[Enqueue] = []
    with storage.atomic():
        retry = not permanent and row.attempts <= row.max_retries
        if (
            retry
            and row.kind == JobKind.JOB
            and storage.batch_status(row.batch_id) not in OPEN_BATCH
        ):
            retry = False  # the batch failed or was cancelled meanwhile: no new attempt starts
        if retry:
            rq_id = new_rq_job_id()
            if storage.requeue_after_failure(row, rq_id, error, traceback):
                queue = row.batch.queue
                enqueue_on_commit(
                    [Enqueue(str(row.pk), rq_id, queue, row.timeout, row.retry_delay)]
                )
            return
        if not storage.finish(row, JobStatus.FAILED, error=error, traceback=traceback):
            return
        if row.kind == JobKind.JOB:
            _job_failed(row, error, enq)
        elif row.kind == JobKind.CALLBACK:
            logger.error(
                "batchqueue: %s callback of batch %s failed: %s", row.event, row.batch_id, error
            )
            storage.lock(row.batch_id)
            _advance_callbacks(row.batch_id, enq)
        else:
            logger.error(
                "batchqueue: compensation %s of batch %s failed: %s",
                row.job_path,
                row.batch_id,
                error,
            )
            storage.lock(row.batch_id)
            _advance_compensations(row.batch_id, enq)
        enqueue_on_commit(enq)


def _job_completed(
    row: BatchJob, result: Any, context: dict[str, Any] | None, enq: list[Enqueue]
) -> None:
    storage = get_storage()
    is_chain = row.batch.type == BatchType.SEQUENTIAL
    storage.count(row.batch_id, completed=1, context=context if is_chain else None)
    _send_after_commit(
        signals.job_completed,
        row.batch_id,
        job_id=str(row.pk),
        position=row.position,
        result=result,
    )
    batch = storage.get_batch(row.batch_id)
    assert batch is not None
    if batch.status in OPEN_BATCH:
        if is_chain:
            _advance_chain(batch, enq)
        else:
            _try_settle(batch.pk, enq)
    elif batch.compensation_status is not None:
        # The batch failed (or was cancelled with compensation) while this job ran: it is
        # compensated now that it has completed, once; then the compensation may finish.
        if row.compensation_path:
            _compensate(batch, [row], _compensation_reason(batch), enq)
        else:
            _advance_compensations(batch.pk, enq)


def _job_failed(row: BatchJob, error: str, enq: list[Enqueue]) -> None:
    storage = get_storage()
    storage.count(row.batch_id, failed=1)
    batch = storage.get_batch(row.batch_id)
    assert batch is not None
    _send_after_commit(
        signals.job_failed, batch.pk, job_id=str(row.pk), position=row.position, error=error
    )
    if CallbackEvent.ON_JOB_FAILURE in batch.callbacks:
        callback = _callback_row(
            batch,
            CallbackEvent.ON_JOB_FAILURE,
            position=row.position,
            error=error,
            extra={"job_id": str(row.pk), "failed_job_position": row.position},
        )
        storage.insert_jobs([callback])
        queue_row(callback, batch.queue, enq)
    parallel = batch.type == BatchType.PARALLEL
    if batch.status in OPEN_BATCH:
        if parallel and batch.allow_failures:
            if row.compensation_path:
                _compensate(batch, [row], error, enq)
            _try_settle(batch.pk, enq)
        else:
            _fail_batch(batch, error, row, enq)
    elif batch.compensation_status is not None:
        # Failed after the batch had finished: in a parallel batch its own compensation runs;
        # either way the batch's compensation may now be able to finish.
        if parallel and row.compensation_path:
            _compensate(batch, [row], error, enq)
        else:
            _advance_compensations(batch.pk, enq)


# ---------------------------------------------------------------------------- batch outcomes


def _try_settle(batch_id: Any, enq: list[Enqueue]) -> bool:
    storage = get_storage()
    if not storage.settle(batch_id):
        return False
    batch = storage.get_batch(batch_id)
    assert batch is not None
    rows = []
    if CallbackEvent.ON_COMPLETE in batch.callbacks:
        rows.append(_callback_row(batch, CallbackEvent.ON_COMPLETE, position=0))
    if batch.failed_jobs and CallbackEvent.ON_FAILURE in batch.callbacks:
        error = f"{batch.failed_jobs} of {batch.total_jobs} jobs failed"
        rows.append(_callback_row(batch, CallbackEvent.ON_FAILURE, position=1, error=error))
    if rows:
        storage.insert_jobs(rows)
        _advance_callbacks(batch.pk, enq)
    _send_after_commit(signals.batch_finished, batch.pk, status=BatchStatus.COMPLETED)
    return True


def _compensation_reason(batch: Batch) -> str:
    """The ``error`` a compensation of ``batch`` is told: why the batch is being undone."""
    if batch.status == BatchStatus.CANCELLED:
        return CANCELLED_REASON
    return batch.error or "batch finished while the job ran"


#: The error a cancelled batch's compensations receive.
CANCELLED_REASON = "batch cancelled"


def _fail_batch(batch: Batch, error: str, failed_row: BatchJob, enq: list[Enqueue]) -> None:
    storage = get_storage()
    if not storage.close(batch.pk, BatchStatus.FAILED, error):
        return
    storage.cancel_unstarted(batch.pk)
    batch.status, batch.error = BatchStatus.FAILED, error
    if CallbackEvent.ON_FAILURE in batch.callbacks:
        storage.insert_jobs(
            [_callback_row(batch, CallbackEvent.ON_FAILURE, position=0, error=error)]
        )
        _advance_callbacks(batch.pk, enq)
    if batch.has_compensation:
        originals = storage.completed_with_compensation(batch.pk)
        if batch.type == BatchType.PARALLEL and failed_row.compensation_path:
            originals.append(failed_row)
        if originals or storage.running_with_compensation(batch.pk):
            _compensate(batch, originals, error, enq)
    _send_after_commit(signals.batch_failed, batch.pk, error=error)


def cancel_batch(batch: Batch, compensate: bool, enq: list[Enqueue]) -> bool:
    """open -> cancelled; with ``compensate`` the completed jobs are undone in reverse order."""
    storage = get_storage()
    if not storage.close(batch.pk, BatchStatus.CANCELLED, "cancelled"):
        return False
    storage.cancel_unstarted(batch.pk)
    batch.status = BatchStatus.CANCELLED
    if compensate and batch.has_compensation:
        originals = storage.completed_with_compensation(batch.pk)
        if originals or storage.running_with_compensation(batch.pk):
            _compensate(batch, originals, CANCELLED_REASON, enq)
    _send_after_commit(signals.batch_cancelled, batch.pk, compensate=compensate)
    return True


def _advance_chain(batch: Batch, enq: list[Enqueue]) -> None:
    nxt = get_storage().next_pending_step(batch.pk)
    if nxt is not None:
        queue_row(nxt, batch.queue, enq)
    else:
        _try_settle(batch.pk, enq)


# ---------------------------------------------------------------------------- callbacks


def _callback_row(
    batch: Batch,
    event: str,
    *,
    position: int,
    error: str | None = None,
    extra: dict[str, Any] | None = None,
) -> BatchJob:
    spec = batch.callbacks[event]
    failed = event != CallbackEvent.ON_COMPLETE
    meta = {
        "batch_id": str(batch.pk),
        "status": "failed" if failed else "completed",
        "error": error,
        **(extra or {}),
    }
    tuning = _tuning_for(spec["path"], None)
    return BatchJob(
        batch_id=batch.pk,
        kind=JobKind.CALLBACK,
        event=event,
        position=position,
        job_path=spec["path"],
        args=spec.get("args") or {},
        meta=meta,
        status=JobStatus.PENDING,
        **tuning,
    )


def _advance_callbacks(batch_id: Any, enq: list[Enqueue]) -> None:
    """Start the next settle callback once no callback is queued or running.

    ``on_job_failure`` callbacks start as soon as they are created; ``on_complete`` and then
    ``on_failure`` wait here until every earlier callback has finished, so they run in the
    order the contract gives even with many workers.
    """
    storage = get_storage()
    if storage.has_active(batch_id, JobKind.CALLBACK):
        return
    nxt = storage.first_pending(batch_id, JobKind.CALLBACK)
    if nxt is not None:
        batch = storage.get_batch(batch_id)
        assert batch is not None
        queue_row(nxt, batch.queue, enq)


# ---------------------------------------------------------------------------- compensation


def _compensate(batch: Batch, originals: list[BatchJob], error: str, enq: list[Enqueue]) -> None:
    """Record a compensation run for each original and start them (newest position first)."""
    storage = get_storage()
    rows = []
    for original in originals:
        meta = {
            "batch_id": str(batch.pk),
            "original_job_id": str(original.pk),
            "original_job_class": original.job_path,
            "original_position": original.position,
            "original_result": original.result,
            "error": error,
            "context": batch.context,
        }
        rows.append(
            BatchJob(
                batch_id=batch.pk,
                kind=JobKind.COMPENSATION,
                position=original.position,
                job_path=original.compensation_path,
                compensates_id=original.pk,
                args=original.args,
                meta=meta,
                status=JobStatus.PENDING,
                **_tuning_for(original.compensation_path, batch),
            )
        )
    if rows:
        storage.insert_jobs(rows)
    storage.set_compensation_status(batch.pk, CompensationStatus.RUNNING)
    _advance_compensations(batch.pk, enq)


def _advance_compensations(batch_id: Any, enq: list[Enqueue]) -> bool:
    """Run compensations one at a time in reverse position order; finish the status at the end.

    Once a batch has finished, nothing is undone while any of its compensable jobs still runs.
    """
    storage = get_storage()
    if storage.has_active(batch_id, JobKind.COMPENSATION):
        return False
    batch = storage.get_batch(batch_id)
    assert batch is not None
    if batch.status not in OPEN_BATCH and storage.running_with_compensation(batch_id):
        # The batch failed or was cancelled while compensable jobs still run: wait for them,
        # so that whatever they complete is undone too, in reverse position order with the rest.
        return False
    nxt = storage.first_pending(batch_id, JobKind.COMPENSATION, newest_first=True)
    if nxt is not None:
        return queue_row(nxt, batch.queue, enq)
    final = (
        CompensationStatus.FAILED
        if storage.compensation_failures(batch_id)
        else CompensationStatus.COMPLETED
    )
    if storage.set_compensation_status(batch_id, final, only_if=[CompensationStatus.RUNNING]):
        _send_after_commit(signals.compensation_finished, batch_id, status=final)
        return True
    return False


# ---------------------------------------------------------------------------- repairs


def nudge(batch_id: Any) -> bool:
    """Move a batch on if nothing of it is queued or running (reconciliation's last step).

    Settles a batch whose jobs have all finished, starts a chain's next pending step, the next
    waiting callback and the next compensation. Returns whether anything moved.
    """
    storage = get_storage()
    enq: list[Enqueue] = []
    moved = False
    with storage.atomic():
        if not storage.lock(batch_id):
            return False
        batch = storage.get_batch(batch_id)
        assert batch is not None
        if batch.status in OPEN_BATCH and not storage.has_active(batch_id, JobKind.JOB):
            if batch.type == BatchType.SEQUENTIAL:
                _advance_chain(batch, enq)
                moved = bool(enq) or storage.batch_status(batch_id) not in OPEN_BATCH
            else:
                moved = _try_settle(batch_id, enq)
        if not storage.has_active(batch_id, JobKind.CALLBACK):
            before = len(enq)
            _advance_callbacks(batch_id, enq)
            moved = moved or len(enq) > before
        if batch.compensation_status == CompensationStatus.RUNNING:
            moved = _advance_compensations(batch_id, enq) or moved
        enqueue_on_commit(enq)
    return moved
