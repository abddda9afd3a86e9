"""What a run's outcome does: the state machine of one job, callback or compensation run.

A run that succeeded is completed and counted; a run that failed is retried while it has
retries left (and its batch is still open), else failed for good and counted. Then the batch
reacts (:mod:`.reactions`): :mod:`.flow` decides what starts next, :mod:`.settling` how the
batch ends, :mod:`.callbacks` and :mod:`.compensation` what runs after, :mod:`.aftermath` what
follows once an outcome's callbacks and compensations are done. Every branch is one unit of work
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
from . import aftermath, compensation, flow, reactions, settling
from .effects import Effects
from .queues import Enqueue, new_rq_job_id

logger = logging.getLogger(__name__)


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
                storage.lock_tree(row.loaded_batch)
                settling.try_settle(storage, row.batch_id, fx)
                aftermath.after_outcomes(storage, fx)
                fx.release()
        elif flow.wants_release(row.loaded_batch, counts):
            with storage.atomic():
                storage.lock_tree(row.loaded_batch)
                flow.release(storage, row.loaded_batch, fx)
                fx.release()
        else:
            fx.release()
        return
    with storage.atomic():
        storage.lock_tree(row.loaded_batch)
        if row.kind == JobKind.JOB:
            chain = row.loaded_batch.type == BatchType.SEQUENTIAL
            batch = storage.complete_member(row, result, context if chain else None)
            if batch is None:
                return
            # Nothing but this job's ending is decided here unless a batch ends (its
            # settling is always durable: it decides callbacks).
            reactions.member_completed(storage, row, result, fx, batch, durable=False)
        else:
            if not storage.finish(row, JobStatus.COMPLETED, result=result):
                return
            _run_ended(storage, row, fx)
        aftermath.after_outcomes(storage, fx)
        fx.release()


def run_failed(row: JobRecord, error: str, traceback: str = "", permanent: bool = False) -> None:
    """Record a failed run: retry it if it has retries left, else fail it for good."""
    storage = get_storage()
    fx = Effects(storage)
    with storage.atomic():
        storage.lock_tree(row.loaded_batch)
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
        counted = row.kind == JobKind.JOB
        if not storage.finish(
            row, JobStatus.FAILED, error=error, traceback=traceback, counted=counted
        ):
            return
        if row.kind == JobKind.JOB:
            reactions.member_failed(storage, row, error, fx)
        else:
            what = f"{row.event} callback" if row.kind == JobKind.CALLBACK else "compensation"
            logger.error(
                "batchqueue: %s %s of batch %s failed: %s", what, row.job_path, row.batch_id, error
            )
            _run_ended(storage, row, fx)
        aftermath.after_outcomes(storage, fx)
        fx.release()


def _completed_signal(row: JobRecord, result: Any, fx: Effects) -> None:
    fx.send(
        signals.job_completed,
        row.batch_id,
        job_id=str(row.id),
        position=row.position,
        result=result,
    )


def _run_ended(storage: Storage, row: JobRecord, fx: Effects) -> None:
    """A callback or compensation run finished: the next one may start, or the aftermath."""
    storage.lock(row.batch_id)
    if row.kind == JobKind.COMPENSATION:
        compensation.advance(storage, row.batch_id, fx)
    fx.ended.append(row.batch_id)
