"""What a run's outcome does: the state machine of one job, callback or compensation run.

A run that succeeded is completed and counted; a run that failed is retried while it has
retries left (and its batch is still open), else failed for good and counted. Then the batch
reacts: :mod:`.flow` decides what starts next, :mod:`.settling` how the batch ends,
:mod:`.callbacks` and :mod:`.compensation` what runs after. Every branch is one unit of work
of the storage; RQ jobs and signals follow its commit (:mod:`.effects`).
"""

from __future__ import annotations

import logging
from typing import Any

from .. import signals
from ..states import OPEN_BATCH, BatchType, JobKind, JobStatus
from ..storage import get_storage
from ..storage.base import Storage
from ..storage.records import JobRecord
from . import callbacks, compensation, flow, settling
from .effects import Effects
from .queues import Enqueue, new_rq_job_id

logger = logging.getLogger("django_batchqueue")


def run_succeeded(row: JobRecord, result: Any, context: dict[str, Any] | None) -> None:
    """Record a successful run of a job, callback or compensation and act on it."""
    storage = get_storage()
    fx = Effects(storage)
    parallel = row.loaded_batch.type == BatchType.PARALLEL
    if row.kind == JobKind.JOB and parallel and not row.compensation_path:
        # Hot path of a parallel batch: one statement completes the job and counts it; only a
        # run that sees every job finished goes on to (try to) settle the batch.
        counts = storage.complete_and_count(row, result)
        if counts is None:
            return
        _completed_signal(row, result, fx)
        if counts.all_done and counts.status in OPEN_BATCH:
            with storage.atomic():
                settling.try_settle(storage, row.batch_id, fx)
                fx.release()
        elif flow.wants_release(row.loaded_batch, counts):
            with storage.atomic():
                flow.release(storage, row.loaded_batch, fx)
                fx.release()
        else:
            fx.release()
        return
    with storage.atomic():
        if not storage.finish(row, JobStatus.COMPLETED, result=result):
            return
        if row.kind == JobKind.JOB:
            _job_completed(storage, row, result, context, fx)
        else:
            _run_ended(storage, row, fx)
        fx.release()


def run_failed(row: JobRecord, error: str, traceback: str = "", permanent: bool = False) -> None:
    """Record a failed run: retry it if it has retries left, else fail it for good."""
    storage = get_storage()
    fx = Effects(storage)
    with storage.atomic():
        retry = not permanent and row.attempts <= row.max_retries
        if retry and row.kind == JobKind.JOB:
            # The batch failed or was cancelled meanwhile: no new attempt starts.
            retry = storage.batch_status(row.batch_id) in OPEN_BATCH
        if retry:
            rq_id = new_rq_job_id()
            if storage.requeue_after_failure(row, rq_id, error, traceback):
                queue = row.loaded_batch.queue
                fx.enqueue(Enqueue(str(row.id), rq_id, queue, row.timeout, row.retry_delay))
                fx.release()
            return
        if not storage.finish(row, JobStatus.FAILED, error=error, traceback=traceback):
            return
        if row.kind == JobKind.JOB:
            _job_failed(storage, row, error, fx)
        else:
            what = f"{row.event} callback" if row.kind == JobKind.CALLBACK else "compensation"
            logger.error(
                "batchqueue: %s %s of batch %s failed: %s", what, row.job_path, row.batch_id, error
            )
            _run_ended(storage, row, fx)
        fx.release()


def _completed_signal(row: JobRecord, result: Any, fx: Effects) -> None:
    fx.send(
        signals.job_completed,
        row.batch_id,
        job_id=str(row.id),
        position=row.position,
        result=result,
    )


def _job_completed(
    storage: Storage, row: JobRecord, result: Any, context: dict[str, Any] | None, fx: Effects
) -> None:
    is_chain = row.loaded_batch.type == BatchType.SEQUENTIAL
    storage.count(row.batch_id, completed=1, context=context if is_chain else None)
    _completed_signal(row, result, fx)
    batch = storage.get_batch(row.batch_id)
    assert batch is not None
    if batch.status in OPEN_BATCH:
        flow.after_job(storage, batch, fx)
    elif batch.compensation_status is not None:
        # The batch failed (or was cancelled with compensation) while this job ran: it is
        # compensated now that it has completed, once; then the compensation may go on.
        if row.compensation_path:
            compensation.compensate(storage, batch, [row], compensation.reason(batch), fx)
        else:
            compensation.advance(storage, batch.id, fx)


def _job_failed(storage: Storage, row: JobRecord, error: str, fx: Effects) -> None:
    storage.count(row.batch_id, failed=1)
    batch = storage.get_batch(row.batch_id)
    assert batch is not None
    fx.send(signals.job_failed, batch.id, job_id=str(row.id), position=row.position, error=error)
    callbacks.on_job_failure(storage, batch, row.id, row.position, error, fx)
    parallel = batch.type == BatchType.PARALLEL
    if batch.status in OPEN_BATCH:
        if parallel and batch.allow_failures:
            if row.compensation_path:
                compensation.compensate(storage, batch, [row], error, fx)
            flow.after_job(storage, batch, fx)
        else:
            settling.fail(storage, batch, error, row, fx)
    elif batch.compensation_status is not None:
        # Failed after the batch had finished: in a parallel batch its own compensation runs;
        # either way the batch's compensation may now be able to finish.
        if parallel and row.compensation_path:
            compensation.compensate(storage, batch, [row], error, fx)
        else:
            compensation.advance(storage, batch.id, fx)


def _run_ended(storage: Storage, row: JobRecord, fx: Effects) -> None:
    """A callback or compensation run finished: the next one of its kind may start."""
    storage.lock(row.batch_id)
    if row.kind == JobKind.CALLBACK:
        callbacks.advance(storage, row.loaded_batch, fx)
    else:
        compensation.advance(storage, row.batch_id, fx)
