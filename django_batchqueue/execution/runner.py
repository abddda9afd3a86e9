"""The RQ entry point: run one BatchJob row and record what happened.

An RQ job carries only the row id. The row is claimed with a conditional UPDATE (queued ->
running, for the RQ job the row expects), so a cancelled row or a stray duplicate RQ job runs
nothing. The user's code runs outside any transaction; the outcome is recorded afterwards by
:mod:`~django_batchqueue.execution.recording` (in this process, or by a forking BatchWorker's
parent).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.db import close_old_connections

from .. import conf
from ..exceptions import (
    BatchQueueError,
    JobTimeoutIgnored,
    MalformedPayload,
    SerializationError,
    TransactionLeftOpen,
)
from ..registry import resolve
from ..serialization import check_json
from ..states import BatchType, JobKind
from ..storage import get_storage
from . import dbstate, handoff, recording
from .invoke import call
from .queues import current_rq_job, worker_name
from .recording import Outcome
from .timeouts import job_timeout

logger = logging.getLogger(__name__)


def perform(row_id: str) -> str:
    """Run BatchJob ``row_id`` for the current RQ job. Returns what happened: completed,
    failed, skipped, missing or invalid."""
    rq_job = current_rq_job()
    return execute(row_id, rq_job.id if rq_job else None, worker_name(rq_job))


def execute(row_id: str, rq_job_id: str | None, worker: str) -> str:
    """Run row ``row_id`` if it is queued for ``rq_job_id`` (any when ``None``)."""
    parsed = recording.parse_row_id(row_id)
    if parsed is None:
        logger.error("batchqueue: RQ job carries %r, which is not a job row id; ignored", row_id)
        return "invalid"
    row_id = parsed
    claimed = handoff.for_horse(row_id)
    if claimed is not None:
        # A forking BatchWorker's parent claimed the row and records the outcome.
        row = claimed.row
        report = claimed.report
    else:
        close_old_connections()
        row = recording.claim(row_id, rq_job_id, worker)
        if row is None:
            return _why_not_claimed(row_id)

        def report(outcome: Outcome) -> None:
            recording.record(row, outcome)

    try:
        outcome = run(row)
    except BaseException as exc:  # SystemExit / KeyboardInterrupt: recorded, then let through
        report(Outcome.from_exception(exc))
        raise
    report(outcome)
    return "completed" if outcome.ok else "failed"


def run(row: Any) -> Outcome:
    """Run the user's code for a claimed row and say how it ended.

    Every ``Exception`` becomes a failed outcome, and so does a job that ignored its timeout
    (:class:`~django_batchqueue.exceptions.JobTimeoutIgnored`) or left a transaction open
    (:class:`~django_batchqueue.exceptions.TransactionLeftOpen`, after the connections are
    reset); ``SystemExit`` and ``KeyboardInterrupt`` pass through (the caller records them,
    then lets the worker handle them).
    """
    try:
        target = resolve(row.job_path)
    except BatchQueueError as exc:
        # Whatever the row names, only Job subclasses and @job functions ever run.
        return Outcome.failure(recording.describe(exc), permanent=True)
    try:
        try:
            with job_timeout(_time_limit(row, current_rq_job())):
                result, context = call(target, row)
        finally:
            left_open = dbstate.restore_connections()
        if left_open:
            raise TransactionLeftOpen(
                "; ".join(left_open) + "; its uncommitted writes were rolled back"
            )
        check_json(result, "result", limit_size=False)
        keep_context = row.kind == JobKind.JOB and row.loaded_batch.type == BatchType.SEQUENTIAL
        if keep_context:
            if not isinstance(context, dict):
                raise SerializationError(f"context must stay a dict, got {type(context).__name__}")
            check_json(context, "context")
    except JobTimeoutIgnored as exc:
        return Outcome.from_exception(exc)
    except Exception as exc:
        # A result or context that cannot be stored will not become storable on a retry, nor
        # will a malformed stored payload.
        return Outcome.from_exception(
            exc, permanent=isinstance(exc, SerializationError | MalformedPayload)
        )
    return Outcome.success(result, context if keep_context else None)


def _why_not_claimed(row_id: str) -> str:
    status = get_storage().job_status(uuid.UUID(row_id))
    if status is None:
        logger.warning("batchqueue: job row %s does not exist (pruned?); nothing run", row_id)
        return "missing"
    logger.info("batchqueue: skipping %s (%s: cancelled, finished or superseded)", row_id, status)
    return "skipped"


def _time_limit(row: Any, rq_job: Any) -> float | None:
    if row.timeout:
        return float(row.timeout)
    if rq_job is not None and rq_job.timeout and rq_job.timeout > 0:
        return float(rq_job.timeout) - float(conf.get("TIMEOUT_GRACE"))
    return None
