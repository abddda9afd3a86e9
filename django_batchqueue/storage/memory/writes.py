"""Writes of the memory backend: creating batches and rows, and every conditional transition."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from django.utils import timezone

from ...states import (
    FINISHED_BATCH,
    MEMBER_KINDS,
    OPEN_BATCH,
    UNSTARTED_JOB,
    BatchStatus,
    JobKind,
    JobStatus,
)
from ..records import COUNTER_OF, BatchRecord, Counts, JobRecord, NewJob, NewRun
from .state import MemoryState, to_json


class MemoryWrites(MemoryState):
    """Creating and transitions; each checks the state it moves from, like a conditional UPDATE."""

    # -- creating ---------------------------------------------------------------------------

    def create_batch(self, batch: BatchRecord, jobs: Iterable[NewJob]) -> None:
        with self._lock:
            stored = replace(
                batch,
                context=to_json(batch.context),
                callbacks=to_json(batch.callbacks),
                options=to_json(batch.options),
            )
            self.batches[batch.id] = stored
            self._rows_of[batch.id] = []
            self.add_new_jobs(batch.id, jobs)

    def add_new_jobs(self, batch_id: uuid.UUID, jobs: Iterable[NewJob]) -> None:
        with self._lock:
            now = timezone.now()
            for job in jobs:
                self._store(
                    JobRecord(
                        id=job.id,
                        batch_id=batch_id,
                        kind=job.kind,
                        position=job.position,
                        job_path=job.job_path,
                        status=job.status,
                        compensation_path=job.compensation_path,
                        compensation_tuning=json.loads(job.compensation_tuning_json),
                        args=json.loads(job.args_json),
                        max_retries=job.max_retries,
                        retry_delay=job.retry_delay,
                        timeout=job.timeout,
                        rq_job_id=job.rq_job_id,
                        created_at=now,
                        enqueued_at=job.enqueued_at,
                    )
                )

    def insert_runs(self, runs: Sequence[NewRun]) -> None:
        with self._lock:
            for run in runs:
                if run.kind == JobKind.CALLBACK:
                    numbered = [r.sequence for r in self._rows(run.batch_id, JobKind.CALLBACK)]
                    run.sequence = max(numbered, default=-1) + 1
                record = run.as_record()
                record.args, record.meta = to_json(record.args), to_json(record.meta)
                self._store(record)

    # -- job transitions --------------------------------------------------------------------

    def claim_and_load(self, row_id: str, rq_job_id: str | None, worker: str) -> JobRecord | None:
        with self._lock:
            row = self.jobs.get(uuid.UUID(str(row_id)))
            if row is None or row.status != JobStatus.QUEUED:
                return None
            if rq_job_id and row.rq_job_id != rq_job_id:
                return None
            row.status, row.attempts = JobStatus.RUNNING, row.attempts + 1
            row.started_at, row.finished_at, row.worker_name = timezone.now(), None, worker[:255]
            return replace(row, batch=replace(self.batches[row.batch_id]))

    def _this_run(self, row: JobRecord) -> JobRecord | None:
        found = self.jobs.get(row.id)
        if found is None or found.status != JobStatus.RUNNING or found.rq_job_id != row.rq_job_id:
            return None
        return found

    def complete_and_count(self, row: JobRecord, result: Any) -> Counts | None:
        with self._lock:
            if not self.finish(row, JobStatus.COMPLETED, result=result):
                return None
            batch = self.batches[row.batch_id]
            batch.completed_jobs += 1
            return Counts(
                batch.total_jobs,
                batch.completed_jobs,
                batch.failed_jobs,
                batch.cancelled_jobs,
                batch.status,
                batch.waiting_jobs,
            )

    def finish(
        self,
        row: JobRecord,
        status: str,
        *,
        result: Any = None,
        error: str = "",
        traceback: str = "",
        counted: bool = False,
        context: dict[str, Any] | None = None,
    ) -> bool:
        with self._lock:
            found = self._this_run(row)
            if found is None:
                return False
            found.status, found.result, found.finished_at = status, to_json(result), timezone.now()
            if status == JobStatus.FAILED:
                found.error, found.traceback = error, traceback
            row.status = status
        if counted:
            self.count(row.batch_id, **{COUNTER_OF[status]: 1}, context=context)
        return True

    def requeue_after_failure(
        self, row: JobRecord, rq_job_id: str, error: str, traceback: str
    ) -> bool:
        with self._lock:
            found = self._this_run(row)
            if found is None:
                return False
            now = timezone.now()
            found.status, found.rq_job_id, found.error, found.traceback = (
                JobStatus.QUEUED,
                rq_job_id,
                error,
                traceback,
            )
            found.enqueued_at = found.finished_at = now
            return True

    def queue_pending(
        self,
        row_id: uuid.UUID,
        rq_job_id: str,
        *,
        batch_id: uuid.UUID | None = None,
        meta: dict[str, Any] | None = None,
    ) -> bool:
        with self._lock:
            row = self.jobs.get(row_id)
            if row is None or row.status != JobStatus.PENDING:
                return False
            row.status, row.rq_job_id, row.enqueued_at = JobStatus.QUEUED, rq_job_id, timezone.now()
            if meta is not None:
                row.meta = to_json(meta)
            if batch_id is not None:
                self.batches[batch_id].waiting_jobs -= 1
            return True

    def start_virtual(self, row_id: uuid.UUID, *, batch_id: uuid.UUID | None = None) -> bool:
        with self._lock:
            row = self.jobs.get(row_id)
            if row is None or row.status != JobStatus.PENDING:
                return False
            row.status, row.attempts = JobStatus.RUNNING, row.attempts + 1
            row.started_at = row.enqueued_at = timezone.now()
            if batch_id is not None:
                self.batches[batch_id].waiting_jobs -= 1
            return True

    def reopen_child(self, batch_id: uuid.UUID) -> bool:
        with self._lock:
            batch = self.batches.get(batch_id)
            if batch is None or batch.compensation_status is not None:
                return False
            if batch.status not in (BatchStatus.FAILED, BatchStatus.CANCELLED):
                return False
            batch.status, batch.error = BatchStatus.PENDING, ""
            batch.finished_at = batch.finalized_at = None
            return True

    def release_waiting(
        self, batch_id: uuid.UUID, limit: int
    ) -> list[tuple[uuid.UUID, str, int | None, str]]:
        with self._lock:
            batch = self._open(batch_id)
            if batch is None:
                return []
            done = batch.completed_jobs + batch.failed_jobs + batch.cancelled_jobs
            active = batch.total_jobs - done - batch.waiting_jobs
            n = min(batch.waiting_jobs, limit - active)
            if n <= 0:
                return []
            pending = sorted(
                (r for r in self._rows(batch_id, MEMBER_KINDS) if r.status == JobStatus.PENDING),
                key=lambda r: r.position,
            )[:n]
            now = timezone.now()
            for row in pending:
                if row.kind == JobKind.JOB:
                    row.status, row.rq_job_id, row.enqueued_at = JobStatus.QUEUED, row.id.hex, now
                else:
                    row.status, row.started_at, row.enqueued_at = JobStatus.RUNNING, now, now
                    row.attempts += 1
            batch.waiting_jobs -= len(pending)
            return [(row.id, row.rq_job_id, row.timeout, row.kind) for row in pending]

    def reassign_rq_jobs(self, changes: Sequence[tuple[uuid.UUID, str, str]]) -> set[uuid.UUID]:
        moved: set[uuid.UUID] = set()
        with self._lock:
            for row_id, old, new in changes:
                row = self.jobs.get(row_id)
                if row is not None and row.status == JobStatus.QUEUED and row.rq_job_id == old:
                    row.rq_job_id, row.enqueued_at = new, timezone.now()
                    moved.add(row_id)
        return moved

    def cancel_unstarted(self, batch_id: uuid.UUID) -> int:
        with self._lock:
            waiting = queued = 0
            for row in self._rows(batch_id, MEMBER_KINDS):
                if row.status in UNSTARTED_JOB:
                    waiting += row.status == JobStatus.PENDING
                    queued += row.status == JobStatus.QUEUED
                    row.status, row.finished_at = JobStatus.CANCELLED, timezone.now()
            if waiting or queued:
                self.count(batch_id, cancelled=waiting + queued, waiting=-waiting)
            return waiting + queued

    # -- batch transitions ------------------------------------------------------------------

    def count(
        self,
        batch_id: uuid.UUID,
        *,
        completed: int = 0,
        failed: int = 0,
        cancelled: int = 0,
        waiting: int = 0,
        context: dict[str, Any] | None = None,
    ) -> bool:
        with self._lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                return False
            batch.completed_jobs += completed
            batch.failed_jobs += failed
            batch.cancelled_jobs += cancelled
            batch.waiting_jobs += waiting
            if context is not None:
                batch.context = to_json(context)
            batch.updated_at = timezone.now()
            return True

    def _open(self, batch_id: uuid.UUID) -> BatchRecord | None:
        batch = self.batches.get(batch_id)
        return batch if batch is not None and batch.status in OPEN_BATCH else None

    def grow(
        self,
        batch_id: uuid.UUID,
        n: int,
        has_compensation: bool,
        waiting: int = 0,
        has_children: bool = False,
    ) -> bool:
        with self._lock:
            batch = self._open(batch_id)
            if batch is None:
                return False
            batch.total_jobs += n
            batch.waiting_jobs += waiting
            batch.has_children = batch.has_children or has_children
            batch.has_compensation = batch.has_compensation or has_compensation
            return True

    def mark_started(self, batch_id: uuid.UUID) -> bool:
        with self._lock:
            batch = self.batches.get(batch_id)
            if batch is None or batch.status != BatchStatus.PENDING:
                return False
            batch.status, batch.started_at = BatchStatus.RUNNING, timezone.now()
            return True

    def settle(self, batch_id: uuid.UUID, recount: bool = False) -> bool:
        with self._lock:
            batch = self._open(batch_id)
            done = batch and batch.completed_jobs + batch.failed_jobs + batch.cancelled_jobs
            if batch is None or batch.total_jobs > (done or 0):
                return False
            if batch.failed_jobs and not batch.allow_failures:
                return False  # a strict batch with a failed member fails instead
            batch.status, batch.finished_at = BatchStatus.COMPLETED, timezone.now()
            return True

    def close(self, batch_id: uuid.UUID, status: str, error: str = "", undo: bool = False) -> bool:
        with self._lock:
            batch = self._open(batch_id)
            if batch is None:
                return False
            batch.status, batch.error, batch.finished_at = status, error, timezone.now()
            return True

    def reopen_for_retry(self, batch_id: uuid.UUID) -> bool:
        with self._lock:
            batch = self.batches.get(batch_id)
            if batch is None or batch.compensation_status is not None:
                return False
            tolerant = (
                batch.status == BatchStatus.COMPLETED and batch.allow_failures and batch.failed_jobs
            )
            if batch.status != BatchStatus.FAILED and not tolerant:
                return False
            batch.status, batch.error, batch.finished_at = BatchStatus.RUNNING, "", None
            batch.finalized_at = None
            return True

    def outcome_written(self, batch_id: uuid.UUID) -> None:
        """Nothing to clear: the memory backend's process cannot die between the two."""

    def finalize(self, batch_id: uuid.UUID) -> bool:
        with self._lock:
            batch = self.batches.get(batch_id)
            if batch is None or batch.status not in FINISHED_BATCH or batch.finalized_at:
                return False
            batch.finalized_at = timezone.now()
            return True

    def set_compensation_status(
        self, batch_id: uuid.UUID, status: str, only_if: Iterable[str | None] | None = None
    ) -> bool:
        with self._lock:
            batch = self.batches.get(batch_id)
            if batch is None or (only_if is not None and batch.compensation_status not in only_if):
                return False
            batch.compensation_status = status
            return True

    def reset_for_retry(self, batch_id: uuid.UUID) -> list[JobRecord]:
        with self._lock:
            rows = sorted(
                (
                    r
                    for r in self._rows(batch_id, MEMBER_KINDS)
                    if r.status in (JobStatus.FAILED, JobStatus.CANCELLED)
                ),
                key=lambda r: r.position,
            )
            batch = self.batches[batch_id]
            batch.waiting_jobs += len(rows)
            for row in rows:
                if row.status == JobStatus.FAILED:
                    batch.failed_jobs -= 1
                else:
                    batch.cancelled_jobs -= 1
                row.status, row.attempts, row.error, row.traceback = JobStatus.PENDING, 0, "", ""
                row.result = row.started_at = row.finished_at = None
                row.rq_job_id = ""
            return [replace(r) for r in rows]
