"""Reads of the memory backend: what the engine decides with, what users see, maintenance."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from ...states import (
    ACTIVE_JOB,
    MEMBER_KINDS,
    OPEN_BATCH,
    BatchType,
    JobKind,
    JobStatus,
)
from ..base import BatchQuery, JobQuery
from ..records import NESTED_UNDO, BatchRecord, JobRecord
from ..selection import matching_batches, needs_nudge, ordered_rows, to_prune
from .state import MemoryState


class MemoryReads(MemoryState):
    """Every read returns copies, so callers never change the stored records."""

    # -- engine reads -----------------------------------------------------------------------

    def get_batch(self, batch_id: uuid.UUID) -> BatchRecord | None:
        with self._lock:
            batch = self.batches.get(batch_id)
            return None if batch is None else replace(batch)

    def load_job(self, row_id: uuid.UUID) -> JobRecord | None:
        with self._lock:
            row = self.jobs.get(row_id)
            return None if row is None else replace(row, batch=self.get_batch(row.batch_id))

    def job_status(self, row_id: uuid.UUID) -> str | None:
        row = self.jobs.get(uuid.UUID(str(row_id)))
        return None if row is None else row.status

    def batch_status(self, batch_id: uuid.UUID) -> str | None:
        batch = self.batches.get(batch_id)
        return None if batch is None else batch.status

    def max_position(self, batch_id: uuid.UUID) -> int:
        return max((r.position for r in self._rows(batch_id, MEMBER_KINDS)), default=-1)

    def first_pending(
        self, batch_id: uuid.UUID, kind: str | tuple[str, ...], newest_first: bool = False
    ) -> JobRecord | None:
        with self._lock:
            pending = [r for r in self._rows(batch_id, kind) if r.status == JobStatus.PENDING]
            if not pending:
                return None
            if newest_first:
                return replace(max(pending, key=lambda r: r.position))
            return replace(min(pending, key=lambda r: (r.sequence, r.position)))

    def has_active(self, batch_id: uuid.UUID, kind: str | tuple[str, ...]) -> bool:
        return any(r.status in ACTIVE_JOB for r in self._rows(batch_id, kind))

    def completed_with_compensation(self, batch_id: uuid.UUID) -> list[JobRecord]:
        with self._lock:
            undone = {r.compensates_id for r in self._rows(batch_id, JobKind.COMPENSATION)}
            return [
                replace(r)
                for r in sorted(self._rows(batch_id, MEMBER_KINDS), key=lambda r: r.position)
                if r.status == JobStatus.COMPLETED and r.compensation_path and r.id not in undone
            ]

    def running_with_compensation(self, batch_id: uuid.UUID) -> bool:
        return any(
            r.status in ACTIVE_JOB and r.compensation_path
            for r in self._rows(batch_id, MEMBER_KINDS)
        )

    def compensation_failures(self, batch_id: uuid.UUID) -> int:
        return sum(r.status == JobStatus.FAILED for r in self._rows(batch_id, JobKind.COMPENSATION))

    # -- user reads -------------------------------------------------------------------------

    def user_batch(self, batch_id: uuid.UUID) -> BatchRecord | None:
        return self.get_batch(batch_id)

    def child_of(self, member_id: uuid.UUID) -> BatchRecord | None:
        with self._lock:
            for batch in self.batches.values():
                if batch.member_id == member_id:
                    return replace(batch)
            return None

    def children(self, batch_id: uuid.UUID) -> list[tuple[int, BatchRecord]]:
        with self._lock:
            found = []
            for b in self.batches.values():
                if b.parent_id == batch_id:
                    member = self.jobs.get(b.member_id) if b.member_id else None
                    found.append((member.position if member is not None else 0, replace(b)))
            return sorted(found, key=lambda pair: pair[0])

    def user_children(self, batch_id: uuid.UUID) -> list[BatchRecord]:
        return [child for _, child in self.children(batch_id)]

    def member_result(self, child: BatchRecord) -> Any:
        members = sorted(self._rows(child.id, MEMBER_KINDS), key=lambda r: r.position)
        done = [r.result if r.status == JobStatus.COMPLETED else None for r in members]
        if child.type == BatchType.SEQUENTIAL:
            return done[-1] if done else None
        return done

    def result_at(self, batch_id: uuid.UUID, position: int) -> Any:
        for row in self._rows(batch_id, MEMBER_KINDS):
            if row.position == position:
                return row.result if row.status == JobStatus.COMPLETED else None
        return None

    def compensation_of(self, batch_id: uuid.UUID, original_id: uuid.UUID) -> JobRecord | None:
        for row in self._rows(batch_id, JobKind.COMPENSATION):
            if row.compensates_id == original_id:
                return replace(row)
        return None

    def leaf_counts(self, batch: Any) -> dict[str, int]:
        with self._lock:
            root = batch.root_id or batch.pk
            subtree = [
                b
                for b in self.batches.values()
                if b.tree_root == root and b.path.startswith(batch.path)
            ]
            counts = {"total_jobs": 0, "completed_jobs": 0, "failed_jobs": 0, "cancelled_jobs": 0}
            for b in subtree:
                for row in self._rows(b.id, JobKind.JOB):
                    counts["total_jobs"] += 1
                    key = {
                        JobStatus.COMPLETED: "completed_jobs",
                        JobStatus.FAILED: "failed_jobs",
                        JobStatus.CANCELLED: "cancelled_jobs",
                    }.get(JobStatus(row.status))
                    if key:
                        counts[key] += 1
            return counts

    def progress_of(self, batch_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, BatchRecord]:
        with self._lock:
            return {b: replace(self.batches[b]) for b in batch_ids if b in self.batches}

    def _completed(self, batch_id: uuid.UUID) -> list[JobRecord]:
        rows = [r for r in self._rows(batch_id, MEMBER_KINDS) if r.status == JobStatus.COMPLETED]
        return sorted(rows, key=lambda r: r.position)

    def completed_results(
        self, batch_id: uuid.UUID, offset: int = 0, limit: int | None = None
    ) -> list[tuple[uuid.UUID, int, Any]]:
        rows = self._completed(batch_id)
        end = None if limit is None else offset + limit
        return [(r.id, r.position, r.result) for r in rows[offset:end]]

    def count_completed(self, batch_id: uuid.UUID) -> int:
        return len(self._completed(batch_id))

    def job_result(self, batch_id: uuid.UUID, job_id: uuid.UUID) -> tuple[str, Any] | None:
        row = self.jobs.get(job_id)
        if row is None or row.batch_id != batch_id:
            return None
        return row.status, row.result

    def _matching(self, query: BatchQuery) -> list[BatchRecord]:
        return matching_batches(query, self.batches.values())

    def list_batches(self, query: BatchQuery, offset: int, limit: int) -> list[BatchRecord]:
        with self._lock:
            return [replace(b) for b in self._matching(query)[offset : offset + limit]]

    def count_batches(self, query: BatchQuery) -> int:
        return len(self._matching(query))

    def _jobs(self, query: JobQuery) -> list[JobRecord]:
        return ordered_rows(query, self._rows(query.batch_id, query.kind))

    def list_jobs(self, query: JobQuery, offset: int, limit: int) -> list[JobRecord]:
        with self._lock:
            return [replace(r) for r in self._jobs(query)[offset : offset + limit]]

    def count_jobs(self, query: JobQuery) -> int:
        return len(self._jobs(query))

    def count_runs(self, batch_id: uuid.UUID) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self._rows(batch_id):
            counts[row.kind] = counts.get(row.kind, 0) + 1
        return counts

    # -- maintenance ------------------------------------------------------------------------

    def stale_rows(
        self,
        status: str,
        before: datetime,
        limit: int,
        after: tuple[datetime, uuid.UUID] | None = None,
    ) -> list[JobRecord]:
        since = "enqueued_at" if status == JobStatus.QUEUED else "started_at"

        def key(r: JobRecord) -> tuple[datetime, str]:
            return (getattr(r, since), str(r.pk))

        with self._lock:
            rows = [
                r
                for r in self.jobs.values()
                if r.status == status
                and getattr(r, since)
                and getattr(r, since) < before
                and r.kind != JobKind.BATCH
                and r.job_path != NESTED_UNDO
                and (after is None or key(r) > (after[0], str(after[1])))
            ]
            rows.sort(key=key)
            return [replace(r, batch=self.get_batch(r.batch_id)) for r in rows[:limit]]

    def open_queues(self) -> set[str]:
        queues = {b.queue for b in self.batches.values() if b.status in OPEN_BATCH}
        queues |= {
            self.batches[r.batch_id].queue
            for r in self.jobs.values()
            if r.status == JobStatus.QUEUED and r.retry_delay > 0
        }
        return queues

    def stalled_batches(self, quiet_since: datetime, limit: int) -> list[uuid.UUID]:
        with self._lock:
            found = []
            for batch in self.batches.values():
                if batch.updated_at >= quiet_since:
                    continue
                rows = self._rows(batch.id)
                if any(r.status in ACTIVE_JOB for r in rows):
                    continue
                if needs_nudge(batch, rows):
                    found.append(batch.id)
            return found[:limit]

    def batches_to_prune(
        self, finished_before: datetime, unfinished_created_before: datetime | None
    ) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
        return to_prune(self.batches.values(), finished_before, unfinished_created_before)

    def count_rows(self, batch_ids: Sequence[uuid.UUID]) -> int:
        return sum(len(self._rows_of.get(b, [])) for b in batch_ids)

    def delete_batches(self, batch_ids: Sequence[uuid.UUID]) -> tuple[int, int]:
        with self._lock:
            batches = rows = 0
            for batch_id in batch_ids:
                if self.batches.pop(batch_id, None) is None:
                    continue
                batches += 1
                for row_id in self._rows_of.pop(batch_id, []):
                    self.jobs.pop(row_id, None)
                    rows += 1
            return batches, rows
