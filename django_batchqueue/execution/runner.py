"""The RQ entry point: run one BatchJob row and record what happened.

An RQ job carries only the row id. The row is claimed with a conditional UPDATE (queued ->
running, for the RQ job the row expects), so a cancelled row or a stray duplicate RQ job runs
nothing. The user's code runs outside any transaction; the outcome is recorded afterwards by
:mod:`~django_batchqueue.execution.orchestration`.
"""

from __future__ import annotations

import logging
import time
import traceback as tb
import uuid
from collections.abc import Callable
from typing import Any

from django.db import InterfaceError, OperationalError, close_old_connections, connections

from .. import conf
from ..exceptions import BatchQueueError, MalformedPayload, SerializationError
from ..jobs import resolve
from ..serialization import check_json
from ..states import BatchStatus, BatchType, JobKind
from ..storage import get_storage
from . import orchestration
from .handoff import for_horse as handoff_for_horse
from .invoke import call
from .queues import current_rq_job, worker_name
from .timeouts import job_timeout

logger = logging.getLogger("django_batchqueue")

DB_RETRIES = 3


def describe(exc: BaseException) -> str:
    """One line naming the exception, as stored in ``error`` and passed to callbacks."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def with_db_retry(action: Callable[[], Any]) -> Any:
    """Run a bookkeeping transaction, reconnecting if the database connection dropped."""
    for attempt in range(1, DB_RETRIES + 1):
        try:
            return action()
        except (OperationalError, InterfaceError):
            if attempt == DB_RETRIES:
                raise
            logger.warning(
                "batchqueue: database error while recording a run; reconnecting", exc_info=True
            )
            for conn in connections.all(initialized_only=True):
                conn.close()
            time.sleep(0.2 * attempt)
    return None


def parse_row_id(value: Any) -> str | None:
    """The row id an RQ job carries, normalised; None if it is not one."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def perform(row_id: str) -> str:
    """Run BatchJob ``row_id``. Returns what happened: completed, failed, skipped or missing."""
    parsed = parse_row_id(row_id)
    if parsed is None:
        logger.error("batchqueue: RQ job carries %r, which is not a job row id; ignored", row_id)
        return "invalid"
    row_id = parsed
    handoff = handoff_for_horse(row_id)
    if handoff is not None:
        # A forking BatchWorker's parent claimed the row and records the outcome.
        row = handoff.row
        succeeded, failed = handoff.succeeded, handoff.failed
    else:
        close_old_connections()
        row = _claim(row_id)
        if row is None:
            return _why_not_claimed(row_id)

        def succeeded(result: Any, context: dict[str, Any] | None) -> None:
            with_db_retry(lambda: orchestration.run_succeeded(row, result, context))

        def failed(error: str, trace: str = "", permanent: bool = False) -> None:
            with_db_retry(lambda: orchestration.run_failed(row, error, trace, permanent=permanent))

    try:
        target = resolve(row.job_path)
    except BatchQueueError as exc:
        # Whatever the row names, only Job subclasses and @job functions ever run.
        failed(describe(exc), permanent=True)
        return "failed"

    try:
        with job_timeout(_time_limit(row, current_rq_job())):
            result, context = call(target, row)
        check_json(result, "result", limit_size=False)
        keep_context = row.kind == JobKind.JOB and row.batch.type == BatchType.SEQUENTIAL
        if keep_context:
            if not isinstance(context, dict):
                raise SerializationError(f"context must stay a dict, got {type(context).__name__}")
            check_json(context, "context")
    except BaseException as exc:
        # A result or context that cannot be stored will not become storable on a retry, nor
        # will a malformed stored payload.
        permanent = isinstance(exc, SerializationError | MalformedPayload)
        failed(describe(exc), tb.format_exc(), permanent=permanent)
        if not isinstance(exc, Exception):
            raise  # SystemExit / KeyboardInterrupt: recorded, then let the worker handle it
        return "failed"

    succeeded(result, context if keep_context else None)
    return "completed"


def _claim(row_id: str) -> Any:
    """queued -> running for this process's RQ job; the row with its batch, or None."""
    storage = get_storage()
    rq_job = current_rq_job()
    row = with_db_retry(
        lambda: storage.claim_and_load(row_id, rq_job.id if rq_job else None, worker_name(rq_job))
    )
    if row is not None and row.kind == JobKind.JOB and row.batch.status == BatchStatus.PENDING:
        storage.mark_started(row.batch_id)
    return row


def _why_not_claimed(row_id: str) -> str:
    status = get_storage().job_status(row_id)
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
