"""Record a run whose process died, as a failed attempt (retried by the job's policy)."""

from __future__ import annotations

import logging
from typing import Any

from ..states import JobStatus
from ..storage import get_storage
from . import outcomes
from .recording import with_db_retry

logger = logging.getLogger(__name__)


def record_lost_run(row_id: Any, rq_job_id: str, error: str) -> bool:
    """If row ``row_id`` is still running for RQ job ``rq_job_id``, fail that attempt
    (reconnecting if the database connection dropped, as recording any outcome does)."""
    if row_id is None:
        return False
    return bool(with_db_retry(lambda: _record_lost_run(row_id, rq_job_id, error)))


def _record_lost_run(row_id: Any, rq_job_id: str, error: str) -> bool:
    row = get_storage().load_job(row_id)
    if row is None or row.status != JobStatus.RUNNING or row.rq_job_id != rq_job_id:
        return False  # it finished, or was never claimed by this RQ job
    outcomes.run_failed(row, error)
    logger.warning("batchqueue: job %s of batch %s: %s", row.pk, row.batch_id, error)
    return True
