"""Reading batch state in tests through the storage interface, so a test runs on every storage.

``batch(id)`` is the batch's record; ``jobs(id, kind="job", status="failed", position__gte=2)``
its rows in position order, filtered by field (``__gte`` and ``__in`` as in the ORM);
``job(...)`` the one row that matches, whole (with its traceback and its batch); ``tree(id)``
the batch and its nested batches; ``settled(id, ...)`` whether those trees are finished.
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


def tree(root_id: Any) -> list[BatchRecord]:
    """The batch and every batch nested in it, at any depth."""
    found, todo = [], [batch(root_id)]
    while todo:
        b = todo.pop()
        found.append(b)
        todo += [child for _, child in get_storage().children(b.id)]
    return found


def settled(*root_ids: Any) -> bool:
    """Whether each tree is finished: no batch open or compensating, each outcome acted on
    (``finalized_at``), no callback or compensation run waiting or running."""
    for root_id in root_ids:
        for b in tree(root_id):
            if b.status in ("pending", "running") or b.compensation_status == "running":
                return False
            if b.finalized_at is None:  # its outcome is not yet acted on (Redis storage
                return False  # writes the ending and its compensations one step at a time)
            if jobs(b.id, None, kind__in=("callback", "compensation"), status__in=ACTIVE):
                return False
    return True


ACTIVE = ("pending", "queued", "running")


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
