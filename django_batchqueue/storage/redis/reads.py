"""Reads of Redis storage: what the engine decides with and what users see.

Reads take no lock and decide nothing: whatever they return, the transition acting on it checks
the state again in its script.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from ...states import ACTIVE_JOB, MEMBER_KINDS, BatchType, JobKind, JobStatus
from ..base import BatchQuery, JobQuery
from ..records import BatchRecord, JobRecord
from ..selection import matching_batches, ordered_rows
from .codec import batch_from, job_from
from .namespace import Namespace


def _kinds(kind: str | tuple[str, ...] | None) -> tuple[str, ...] | None:
    return (kind,) if isinstance(kind, str) else kind


class RedisReads(Namespace):
    """Records read from the hashes; every list in the order the SQL backend gives."""

    # -- loading ----------------------------------------------------------------------------

    def _batches(self, ids: Sequence[Any]) -> list[BatchRecord]:
        pipe = self.client.pipeline(transaction=False)
        for batch_id in ids:
            pipe.hgetall(self.key("b:", batch_id))
        return [b for b in (batch_from(raw) for raw in pipe.execute()) if b is not None]

    def _load_rows(self, ids: Sequence[Any]) -> list[JobRecord]:
        pipe = self.client.pipeline(transaction=False)
        for row_id in ids:
            pipe.hgetall(self.key("j:", row_id))
        return [r for r in (job_from(raw) for raw in pipe.execute()) if r is not None]

    def _members(self, batch_id: uuid.UUID) -> list[JobRecord]:
        """Jobs and nested-batch rows, in position order."""
        return self._load_rows(self.client.zrange(self.key("m:", batch_id), 0, -1))

    def _runs(self, batch_id: uuid.UUID) -> list[JobRecord]:
        return self._load_rows(sorted(self.client.smembers(self.key("r:", batch_id))))

    def _rows(self, batch_id: uuid.UUID, kind: str | tuple[str, ...] | None) -> list[JobRecord]:
        kinds = _kinds(kind)
        rows: list[JobRecord] = []
        if kinds is None or set(kinds) & set(MEMBER_KINDS):
            rows += self._members(batch_id)
        if kinds is None or set(kinds) - set(MEMBER_KINDS):
            rows += self._runs(batch_id)
        return [r for r in rows if kinds is None or r.kind in kinds]

    def _active(self, batch_id: uuid.UUID) -> list[JobRecord]:
        return self._load_rows(sorted(self.client.smembers(self.key("a:", batch_id))))

    # -- engine reads -----------------------------------------------------------------------

    def get_batch(self, batch_id: uuid.UUID) -> BatchRecord | None:
        return batch_from(self.client.hgetall(self.key("b:", batch_id)))

    def load_job(self, row_id: uuid.UUID) -> JobRecord | None:
        row = job_from(self.client.hgetall(self.key("j:", row_id)))
        if row is not None:
            row.batch = self.get_batch(row.batch_id)
        return row

    def job_status(self, row_id: uuid.UUID) -> str | None:
        status: str | None = self.client.hget(self.key("j:", uuid.UUID(str(row_id))), "status")
        return status

    def batch_status(self, batch_id: uuid.UUID) -> str | None:
        status: str | None = self.client.hget(self.key("b:", batch_id), "status")
        return status

    def max_position(self, batch_id: uuid.UUID) -> int:
        last = self.client.zrevrange(self.key("m:", batch_id), 0, 0, withscores=True)
        return int(last[0][1]) if last else -1

    def first_pending(
        self, batch_id: uuid.UUID, kind: str | tuple[str, ...], newest_first: bool = False
    ) -> JobRecord | None:
        kinds = _kinds(kind) or ()
        if set(kinds) <= set(MEMBER_KINDS):  # pending members are indexed by position
            key, start = self.key("p:", batch_id), 0
            while True:
                fetch = self.client.zrevrange if newest_first else self.client.zrange
                ids = fetch(key, start, start + 99)
                if not ids:
                    return None
                for row in self._load_rows(ids):
                    if row.kind in kinds and row.status == JobStatus.PENDING:
                        return row
                start += 100
        pending = [r for r in self._rows(batch_id, kind) if r.status == JobStatus.PENDING]
        if not pending:
            return None
        if newest_first:
            return max(pending, key=lambda r: r.position)
        return min(pending, key=lambda r: (r.sequence, r.position))

    def has_active(self, batch_id: uuid.UUID, kind: str | tuple[str, ...]) -> bool:
        kinds = _kinds(kind) or ()
        return any(r.kind in kinds and r.status in ACTIVE_JOB for r in self._active(batch_id))

    def completed_with_compensation(self, batch_id: uuid.UUID) -> list[JobRecord]:
        undone = {r.compensates_id for r in self._rows(batch_id, JobKind.COMPENSATION)}
        return [
            r
            for r in self._members(batch_id)
            if r.status == JobStatus.COMPLETED and r.compensation_path and r.id not in undone
        ]

    def running_with_compensation(self, batch_id: uuid.UUID) -> bool:
        return any(
            r.kind in MEMBER_KINDS and r.status in ACTIVE_JOB and r.compensation_path
            for r in self._active(batch_id)
        )

    def compensation_failures(self, batch_id: uuid.UUID) -> int:
        return sum(r.status == JobStatus.FAILED for r in self._rows(batch_id, JobKind.COMPENSATION))

    def child_of(self, member_id: uuid.UUID) -> BatchRecord | None:
        child = self.client.hget(self.key("j:", member_id), "x_child")
        return self.get_batch(uuid.UUID(child)) if child else None

    def children(self, batch_id: uuid.UUID) -> list[tuple[int, BatchRecord]]:
        found = self.client.zrange(self.key("ch:", batch_id), 0, -1, withscores=True)
        positions = {child: int(position) for child, position in found}
        batches = self._batches([child for child, _ in found])
        return [(positions[str(b.id)], b) for b in batches]

    def member_result(self, child: BatchRecord) -> Any:
        done = [
            r.result if r.status == JobStatus.COMPLETED else None for r in self._members(child.id)
        ]
        if child.type == BatchType.SEQUENTIAL:
            return done[-1] if done else None
        return done

    def result_at(self, batch_id: uuid.UUID, position: int) -> Any:
        ids = self.client.zrangebyscore(self.key("m:", batch_id), position, position)
        for row in self._load_rows(ids):
            return row.result if row.status == JobStatus.COMPLETED else None
        return None

    def compensation_of(self, batch_id: uuid.UUID, original_id: uuid.UUID) -> JobRecord | None:
        for row in self._rows(batch_id, JobKind.COMPENSATION):
            if row.compensates_id == original_id:
                return row
        return None

    # -- user reads -------------------------------------------------------------------------

    def user_batch(self, batch_id: uuid.UUID) -> BatchRecord | None:
        return self.get_batch(batch_id)

    def user_children(self, batch_id: uuid.UUID) -> list[BatchRecord]:
        return [child for _, child in self.children(batch_id)]

    def leaf_counts(self, batch: Any) -> dict[str, int]:
        root = batch.root_id or batch.pk
        tree = self._batches(sorted(self.client.smembers(self.key("tree:", root))))
        counts = {"total_jobs": 0, "completed_jobs": 0, "failed_jobs": 0, "cancelled_jobs": 0}
        names = {
            JobStatus.COMPLETED: "completed_jobs",
            JobStatus.FAILED: "failed_jobs",
            JobStatus.CANCELLED: "cancelled_jobs",
        }
        for b in tree:
            if not b.path.startswith(batch.path):
                continue
            for row in self._members(b.id):
                if row.kind == JobKind.JOB:
                    counts["total_jobs"] += 1
                    name = names.get(JobStatus(row.status))
                    if name:
                        counts[name] += 1
        return counts

    def progress_of(self, batch_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, BatchRecord]:
        return {b.id: b for b in self._batches(batch_ids)}

    def _completed(self, batch_id: uuid.UUID) -> list[JobRecord]:
        return [r for r in self._members(batch_id) if r.status == JobStatus.COMPLETED]

    def completed_results(
        self, batch_id: uuid.UUID, offset: int = 0, limit: int | None = None
    ) -> list[tuple[uuid.UUID, int, Any]]:
        rows = self._completed(batch_id)
        end = None if limit is None else offset + limit
        return [(r.id, r.position, r.result) for r in rows[offset:end]]

    def count_completed(self, batch_id: uuid.UUID) -> int:
        return len(self._completed(batch_id))

    def job_result(self, batch_id: uuid.UUID, job_id: uuid.UUID) -> tuple[str, Any] | None:
        row = job_from(self.client.hgetall(self.key("j:", job_id)))
        if row is None or row.batch_id != batch_id:
            return None
        return row.status, row.result

    def _matching(self, query: BatchQuery) -> list[BatchRecord]:
        ids = self.client.zrevrange(self.key("batches"), 0, -1)
        return matching_batches(query, self._batches(ids))

    def list_batches(self, query: BatchQuery, offset: int, limit: int) -> list[BatchRecord]:
        return self._matching(query)[offset : offset + limit]

    def count_batches(self, query: BatchQuery) -> int:
        return len(self._matching(query))

    def _jobs(self, query: JobQuery) -> list[JobRecord]:
        return ordered_rows(query, self._rows(query.batch_id, query.kind))

    def list_jobs(self, query: JobQuery, offset: int, limit: int) -> list[JobRecord]:
        rows = self._jobs(query)[offset : offset + limit]
        for row in rows:
            row.traceback = ""
        return rows

    def count_jobs(self, query: JobQuery) -> int:
        return len(self._jobs(query))

    def count_runs(self, batch_id: uuid.UUID) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self._rows(batch_id, None):
            counts[row.kind] = counts.get(row.kind, 0) + 1
        return counts
