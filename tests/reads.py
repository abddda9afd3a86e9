"""Reading batch state in tests through the storage interface, so a test runs on every storage.

``batch(id)`` is the batch's record; ``jobs(id, kind="job", status="failed", position__gte=2)``
its rows in position order, filtered by field (``__gte`` and ``__in`` as in the ORM);
``job(...)`` the one row that matches, whole (with its traceback and its batch).
"""

from __future__ import annotations

import uuid
from typing import Any

from django_batchqueue.storage import get_storage
from django_batchqueue.storage.base import JobQuery
from django_batchqueue.storage.records import BatchRecord, JobRecord


def batch(batch_id: Any) -> BatchRecord:
    found = get_storage().get_batch(uuid.UUID(str(batch_id)))
    assert found is not None, f"no batch {batch_id}"
    return found


def _matches(row: JobRecord, where: dict[str, Any]) -> bool:
    for key, wanted in where.items():
        name, _, op = key.partition("__")
        value = getattr(row, name)
        if op == "gte" and not value >= wanted:
            return False
        if op == "in" and value not in wanted:
            return False
        if not op and value != wanted:
            return False
    return True


def jobs(batch_id: Any, kind: str | None = "job", order: str = "position", **where: Any):
    """Rows of the batch (``kind=None``: every kind), in ``order`` (see ``JobQuery``)."""
    query = JobQuery(batch_id=uuid.UUID(str(batch_id)), kind=kind, order=order)
    rows = get_storage().list_jobs(query, 0, 1_000_000)
    return [r for r in rows if _matches(r, where)]


def job(batch_id: Any, kind: str | None = "job", **where: Any) -> JobRecord:
    found = jobs(batch_id, kind, **where)
    assert len(found) == 1, f"{len(found)} rows of batch {batch_id} match {kind} {where}"
    whole = get_storage().load_job(found[0].id)  # listings leave tracebacks out
    assert whole is not None
    return whole
