"""What the chaos run reads of batch state, through the storage interface.

The run judges whichever storage ``BATCHQUEUE["STORAGE"]`` names (SQL or Redis) by what that
storage says, never by its tables, so the same verdict applies to both. Batches that have
finished are remembered as such: the workload never reopens one (no ``retry_failed``), and
re-reading thousands of finished batches every half second would load the storage under test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

OPEN = ("pending", "running")
BUSY = ("pending", "queued", "running")


def _storage() -> Any:
    from django_batchqueue.storage import get_storage

    return get_storage()


def batch(batch_id: str) -> Any:
    """The batch's record, or None."""
    return _storage().get_batch(uuid.UUID(batch_id))


def rows(batch_id: str) -> list[Any]:
    """Every row of the batch (jobs, callbacks, compensations, members), without tracebacks."""
    from django_batchqueue.storage.base import JobQuery

    query = JobQuery(batch_id=uuid.UUID(batch_id), kind=None)
    return list(_storage().list_jobs(query, 0, 10_000_000))


def row(row_id: str) -> Any:
    """One row, whole, with its batch loaded; or None."""
    return _storage().load_job(uuid.UUID(row_id))


class Tracker:
    """Which of the workload's batches are open, and which still have rows not finished."""

    def __init__(self) -> None:
        self._closed: dict[str, int] = {}  # finished batch -> its completed jobs
        self._quiet: set[str] = set()  # finished batches none of whose rows is busy

    def open_ids(self, ids: Iterable[str]) -> list[str]:
        found = []
        for bid in ids:
            if bid in self._closed:
                continue
            b = batch(bid)
            if b is None or b.status in OPEN or b.finalized_at is None:
                found.append(bid)
            else:
                self._closed[bid] = b.completed_jobs
        return found

    def completions(self, ids: Iterable[str]) -> int:
        """Completed jobs of these batches, as their counters say."""
        total = 0
        for bid in ids:
            if bid in self._closed:
                total += self._closed[bid]
            else:
                b = batch(bid)
                total += b.completed_jobs if b is not None else 0
        return total

    def busy_rows(
        self, ids: Iterable[str], limit: int = 200, fresh: bool = False
    ) -> tuple[int, list[Any]]:
        """How many rows of these batches are pending, queued or running, and up to ``limit``
        of them. Batches seen quiet once are skipped unless ``fresh`` (on Redis storage an
        ``on_finally`` run is stored just after ``finalized_at``, so the last look is fresh)."""
        count, sample = 0, []
        for bid in ids:
            if bid in self._quiet and not fresh:
                continue
            busy = [r for r in rows(bid) if r.status in BUSY]
            if not busy and bid in self._closed:
                self._quiet.add(bid)
            count += len(busy)
            sample += busy[: max(0, limit - len(sample))]
        return count, sample
