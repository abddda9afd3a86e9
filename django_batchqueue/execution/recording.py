"""Claim a row before a run and record its outcome after: the one implementation every worker
kind uses (in-process runs, RQ's workers, and a forking BatchWorker's parent).

Recording never loses the real reason a run ended. If the outcome itself cannot be recorded
(an encoder or database error that retrying does not cure), the row records that error and its
traceback as the run's failure, so ``WorkerLost`` only ever means a process really died.
"""

from __future__ import annotations

import json
import logging
import time
import traceback as tb
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from django.db import InterfaceError, OperationalError, connections

from .. import signals
from ..outages import REDIS_ERRORS
from ..serialization import dumps
from ..states import BatchStatus, JobKind
from ..storage import get_storage
from . import outcomes

logger = logging.getLogger(__name__)

DB_RETRIES = 3
#: On Redis storage, how long recording waits for a lost Redis to come back, in seconds.
STORAGE_OUTAGE_LIMIT = 300.0


def describe(exc: BaseException) -> str:
    """One line naming the exception, as stored in ``error`` and passed to callbacks."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def with_db_retry(action: Callable[[], Any]) -> Any:
    """Run a bookkeeping transaction, reconnecting if the database connection dropped, and (on
    Redis storage) waiting for a lost Redis to come back: a run's outcome is recorded whatever
    happened to the storage meanwhile. A transition whose answer was lost with the connection
    is answered "not done" when tried again; reconcile then finishes what it would have
    started."""
    db_attempts = redis_attempts = 0
    since, storage_errors = time.monotonic(), _storage_redis_errors()
    while True:
        try:
            return action()
        except storage_errors:
            redis_attempts += 1
            if time.monotonic() - since > STORAGE_OUTAGE_LIMIT:
                raise
            if redis_attempts == 1:
                logger.warning("batchqueue: storage Redis lost while recording a run; waiting")
            time.sleep(min(0.2 * redis_attempts, 5.0))
        except (OperationalError, InterfaceError):
            db_attempts += 1
            if db_attempts == DB_RETRIES:
                raise
            logger.warning(
                "batchqueue: database error while recording a run; reconnecting", exc_info=True
            )
            for conn in connections.all(initialized_only=True):
                conn.close()
            time.sleep(0.2 * db_attempts)


def _storage_redis_errors() -> tuple[type[BaseException], ...]:
    """What a lost storage Redis raises, when storage is Redis (else nothing: on SQL storage a
    Redis error while recording is the queue's, and the worker's outage handling owns it)."""
    from ..storage.redis import RedisStorage

    return REDIS_ERRORS if isinstance(get_storage(), RedisStorage) else ()


@dataclass
class Outcome:
    """How one run ended: a result (and a chain's context) or an error."""

    ok: bool
    result: Any = None
    context: dict[str, Any] | None = None
    error: str = ""
    trace: str = ""
    #: A failure that retrying cannot cure (a result that is not JSON, a malformed payload).
    permanent: bool = False

    @classmethod
    def success(cls, result: Any, context: dict[str, Any] | None) -> Outcome:
        return cls(ok=True, result=result, context=context)

    @classmethod
    def failure(cls, error: str, trace: str = "", permanent: bool = False) -> Outcome:
        return cls(ok=False, error=error, trace=trace, permanent=permanent)

    @classmethod
    def from_exception(cls, exc: BaseException, permanent: bool = False) -> Outcome:
        trace = "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
        return cls.failure(describe(exc), trace, permanent=permanent)

    def encode(self) -> bytes:
        """JSON with Django's encoder, as storage encodes results and contexts.

        An outcome that cannot be encoded becomes the failure that says why.
        """
        try:
            return dumps(asdict(self)).encode()
        except Exception as exc:
            return dumps(asdict(Outcome.from_exception(exc, permanent=True))).encode()

    @classmethod
    def decode(cls, data: bytes) -> Outcome:
        return cls(**json.loads(data))


def parse_row_id(value: Any) -> str | None:
    """The row id an RQ job carries, normalised; None if it is not one."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def claim(row_id: str, rq_job_id: str | None, worker: str) -> Any:
    """queued -> running for this RQ job; the row with its batch, or ``None`` (skip the run)."""
    storage = get_storage()
    row = with_db_retry(lambda: storage.claim_and_load(row_id, rq_job_id, worker))
    if row is None or row.kind != JobKind.JOB:
        return row
    if row.loaded_batch.status == BatchStatus.PENDING:
        with_db_retry(lambda: storage.mark_started(row.batch_id))
    if signals.job_started.receivers:
        signals.send(
            signals.job_started,
            str(row.batch_id),
            job_id=str(row.id),
            position=row.position,
            attempt=row.attempts,
            batch=row.loaded_batch,
        )
    return row


def record(row: Any, outcome: Outcome) -> None:
    """Record ``outcome`` for the claimed ``row`` (retried over dropped connections).

    When a success cannot be recorded for a reason other than the database being away, the run
    is recorded as failed with that reason instead.
    """
    try:
        _record(row, outcome)
    except (OperationalError, InterfaceError):
        raise  # the database is away: reconciliation repairs the row once it is back
    except Exception as exc:
        if not outcome.ok:
            raise
        logger.exception("batchqueue: could not record the result of %s", row.pk)
        _record(row, Outcome.from_exception(exc, permanent=True))


def _record(row: Any, outcome: Outcome) -> None:
    if outcome.ok:
        with_db_retry(lambda: outcomes.run_succeeded(row, outcome.result, outcome.context))
    else:
        with_db_retry(
            lambda: outcomes.run_failed(
                row, outcome.error, outcome.trace, permanent=outcome.permanent
            )
        )
