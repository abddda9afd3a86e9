"""SQL storage: the only code that writes status fields and counters, with conditional UPDATEs.

Every status change is ``UPDATE ... WHERE status IN (...)`` and its row count decides who acts.
Counters use ``F()`` increments. A transaction that makes a structural decision about a batch
(advance a chain, add jobs, start callbacks or compensations) first writes to the batch row
(:meth:`SQLStorage.lock`), which serialises those decisions per batch on PostgreSQL (row lock)
and on SQLite (the write lock is taken before any read in the transaction).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from ..models import Batch, BatchJob
from ..states import (
    ACTIVE_JOB,
    OPEN_BATCH,
    UNSTARTED_JOB,
    BatchStatus,
    JobKind,
    JobStatus,
)
from .bulk import NewJob, insert_new_jobs
from .hotpath import HotPath


class SQLStorage(HotPath):
    """Batch state in the Django database (the default)."""

    atomic = staticmethod(transaction.atomic)

    # ------------------------------------------------------------------ creating

    def create_batch(self, batch: Batch, rows: Sequence[NewJob]) -> Batch:
        batch.save(force_insert=True)
        insert_new_jobs(batch.pk, rows, batch.created_at)
        return batch

    def add_new_jobs(self, batch_id: Any, rows: Sequence[NewJob]) -> None:
        insert_new_jobs(batch_id, rows, timezone.now())

    def insert_jobs(self, rows: Sequence[BatchJob]) -> None:
        BatchJob.objects.bulk_create(rows, batch_size=2000)

    # ------------------------------------------------------------------ reading

    def get_batch(self, batch_id: Any) -> Batch | None:
        return Batch.objects.filter(pk=batch_id).first()

    def load_job(self, row_id: Any) -> BatchJob | None:
        return BatchJob.objects.select_related("batch").filter(pk=row_id).first()

    def job_status(self, row_id: Any) -> str | None:
        return BatchJob.objects.filter(pk=row_id).values_list("status", flat=True).first()

    def batch_status(self, batch_id: Any) -> str | None:
        return Batch.objects.filter(pk=batch_id).values_list("status", flat=True).first()

    def max_position(self, batch_id: Any) -> int:
        found = BatchJob.objects.filter(batch_id=batch_id, kind=JobKind.JOB).aggregate(
            m=Max("position")
        )["m"]
        return -1 if found is None else found

    def next_pending_step(self, batch_id: Any) -> BatchJob | None:
        return (
            BatchJob.objects.filter(batch_id=batch_id, kind=JobKind.JOB, status=JobStatus.PENDING)
            .order_by("position")
            .first()
        )

    def has_active(self, batch_id: Any, kind: str) -> bool:
        return BatchJob.objects.filter(batch_id=batch_id, kind=kind, status__in=ACTIVE_JOB).exists()

    def first_pending(
        self, batch_id: Any, kind: str, newest_first: bool = False
    ) -> BatchJob | None:
        order = "-position" if newest_first else "position"
        return (
            BatchJob.objects.filter(batch_id=batch_id, kind=kind, status=JobStatus.PENDING)
            .order_by(order)
            .first()
        )

    def completed_with_compensation(self, batch_id: Any) -> list[BatchJob]:
        """Completed jobs that declare a compensation and have none recorded yet."""
        return list(
            BatchJob.objects.filter(batch_id=batch_id, kind=JobKind.JOB, status=JobStatus.COMPLETED)
            .exclude(compensation_path="")
            .exclude(compensations__isnull=False)
            .order_by("position")
        )

    def running_with_compensation(self, batch_id: Any) -> bool:
        return (
            BatchJob.objects.filter(batch_id=batch_id, kind=JobKind.JOB, status__in=ACTIVE_JOB)
            .exclude(compensation_path="")
            .exists()
        )

    def compensation_failures(self, batch_id: Any) -> int:
        return BatchJob.objects.filter(
            batch_id=batch_id, kind=JobKind.COMPENSATION, status=JobStatus.FAILED
        ).count()

    # ------------------------------------------------------------------ job rows

    def claim(self, row: BatchJob, rq_job_id: str | None, worker: str) -> bool:
        """queued -> running for the RQ job that is expected to run it; False means skip."""
        now = timezone.now()
        qs = BatchJob.objects.filter(pk=row.pk, status=JobStatus.QUEUED)
        if rq_job_id:
            qs = qs.filter(rq_job_id=rq_job_id)
        won = qs.update(
            status=JobStatus.RUNNING,
            attempts=F("attempts") + 1,
            started_at=now,
            finished_at=None,
            worker_name=worker[:255],
        )
        if won:
            row.status, row.attempts, row.started_at = JobStatus.RUNNING, row.attempts + 1, now
        return bool(won)

    def finish(
        self,
        row: BatchJob,
        status: str,
        *,
        result: Any = None,
        error: str = "",
        traceback: str = "",
    ) -> bool:
        """running -> completed/failed. False when the row was no longer running.

        A completed row keeps the error of its last failed attempt, if it had one.
        """
        changes: dict[str, Any] = {
            "status": status,
            "result": result,
            "finished_at": timezone.now(),
        }
        if status == JobStatus.FAILED:
            changes.update(error=error, traceback=traceback)
        won = self._this_run(row).update(**changes)
        if won:
            row.status = status
        return bool(won)

    def requeue_after_failure(
        self, row: BatchJob, rq_job_id: str, error: str, traceback: str
    ) -> bool:
        """running -> queued for another attempt, recording the attempt's error."""
        won = self._this_run(row).update(
            status=JobStatus.QUEUED,
            rq_job_id=rq_job_id,
            error=error,
            traceback=traceback,
            enqueued_at=timezone.now(),
            finished_at=timezone.now(),
        )
        return bool(won)

    @staticmethod
    def _this_run(row: BatchJob) -> Any:
        """The row, if it is still in the run ``row`` describes (running, for the same RQ job).

        A run that reconciliation already gave up on (and possibly retried elsewhere) can no
        longer record anything.
        """
        return BatchJob.objects.filter(pk=row.pk, status=JobStatus.RUNNING, rq_job_id=row.rq_job_id)

    def queue_pending(self, row: BatchJob, rq_job_id: str) -> bool:
        """pending -> queued; False when someone else queued (or cancelled) it first."""
        won = BatchJob.objects.filter(pk=row.pk, status=JobStatus.PENDING).update(
            status=JobStatus.QUEUED, rq_job_id=rq_job_id, enqueued_at=timezone.now()
        )
        return bool(won)

    def reassign_rq_job(self, row_id: Any, old_rq_job_id: str, new_rq_job_id: str) -> bool:
        """Point a queued row at a new RQ job (the old one vanished)."""
        return bool(
            BatchJob.objects.filter(
                pk=row_id, status=JobStatus.QUEUED, rq_job_id=old_rq_job_id
            ).update(rq_job_id=new_rq_job_id, enqueued_at=timezone.now())
        )

    def cancel_unstarted(self, batch_id: Any) -> int:
        """Cancel the batch's jobs that have not started; counts them on the batch."""
        n = BatchJob.objects.filter(
            batch_id=batch_id, kind=JobKind.JOB, status__in=UNSTARTED_JOB
        ).update(status=JobStatus.CANCELLED, finished_at=timezone.now())
        if n:
            self.count(batch_id, cancelled=n)
        return n

    # ------------------------------------------------------------------ batch row

    def lock(self, batch_id: Any) -> bool:
        """Write to the batch row so this transaction serialises with others on the batch."""
        return bool(Batch.objects.filter(pk=batch_id).update(updated_at=timezone.now()))

    def count(
        self,
        batch_id: Any,
        *,
        completed: int = 0,
        failed: int = 0,
        cancelled: int = 0,
        total: int = 0,
        context: dict[str, Any] | None = None,
    ) -> bool:
        """Increment counters (and in a chain store the context); also locks the batch row."""
        changes: dict[str, Any] = {"updated_at": timezone.now()}
        for name, n in (
            ("completed_jobs", completed),
            ("failed_jobs", failed),
            ("cancelled_jobs", cancelled),
            ("total_jobs", total),
        ):
            if n:
                changes[name] = F(name) + n
        if context is not None:
            changes["context"] = context
        return bool(Batch.objects.filter(pk=batch_id).update(**changes))

    def grow(self, batch_id: Any, n: int, has_compensation: bool) -> bool:
        """Add ``n`` jobs to an open batch; False when the batch is finished or missing."""
        changes: dict[str, Any] = {"total_jobs": F("total_jobs") + n, "updated_at": timezone.now()}
        if has_compensation:
            changes["has_compensation"] = True
        return bool(Batch.objects.filter(pk=batch_id, status__in=OPEN_BATCH).update(**changes))

    def mark_started(self, batch_id: Any) -> bool:
        now = timezone.now()
        return bool(
            Batch.objects.filter(pk=batch_id, status=BatchStatus.PENDING).update(
                status=BatchStatus.RUNNING, started_at=now, updated_at=now
            )
        )

    def settle(self, batch_id: Any) -> bool:
        """open -> completed once every job has finished; True for the one caller that did it."""
        now = timezone.now()
        done = F("completed_jobs") + F("failed_jobs") + F("cancelled_jobs")
        return bool(
            Batch.objects.filter(pk=batch_id, status__in=OPEN_BATCH, total_jobs__lte=done).update(
                status=BatchStatus.COMPLETED, finished_at=now, updated_at=now
            )
        )

    def close(self, batch_id: Any, status: str, error: str = "") -> bool:
        """open -> failed/cancelled; True for the one caller that did it."""
        now = timezone.now()
        return bool(
            Batch.objects.filter(pk=batch_id, status__in=OPEN_BATCH).update(
                status=status, error=error, finished_at=now, updated_at=now
            )
        )

    def reopen_for_retry(self, batch_id: Any) -> bool:
        """failed -> running, or completed -> running for an allow-failures batch with failed
        jobs; never once compensation has started."""
        retryable = Q(status=BatchStatus.FAILED) | Q(
            status=BatchStatus.COMPLETED, allow_failures=True, failed_jobs__gt=0
        )
        return bool(
            Batch.objects.filter(retryable, pk=batch_id, compensation_status__isnull=True).update(
                status=BatchStatus.RUNNING, error="", finished_at=None, updated_at=timezone.now()
            )
        )

    def set_compensation_status(
        self, batch_id: Any, status: str, only_if: Iterable[str | None] | None = None
    ) -> bool:
        qs = Batch.objects.filter(pk=batch_id)
        if only_if is not None:
            allowed = list(only_if)
            cond = Q(compensation_status__in=[s for s in allowed if s is not None])
            if None in allowed:
                cond |= Q(compensation_status__isnull=True)
            qs = qs.filter(cond)
        return bool(qs.update(compensation_status=status, updated_at=timezone.now()))

    # ------------------------------------------------------------------ retry of a failed batch

    def reset_for_retry(self, batch_id: Any) -> tuple[list[BatchJob], int, int]:
        """Failed/cancelled jobs back to pending; returns (rows by position, failed, cancelled)."""
        rows = list(
            BatchJob.objects.filter(
                batch_id=batch_id,
                kind=JobKind.JOB,
                status__in=(JobStatus.FAILED, JobStatus.CANCELLED),
            ).order_by("position")
        )
        failed = sum(1 for r in rows if r.status == JobStatus.FAILED)
        cancelled = len(rows) - failed
        BatchJob.objects.filter(pk__in=[r.pk for r in rows]).update(
            status=JobStatus.PENDING,
            attempts=0,
            error="",
            traceback="",
            result=None,
            started_at=None,
            finished_at=None,
            rq_job_id="",
        )
        Batch.objects.filter(pk=batch_id).update(
            failed_jobs=F("failed_jobs") - failed, cancelled_jobs=F("cancelled_jobs") - cancelled
        )
        for r in rows:
            r.status = JobStatus.PENDING
        return rows, failed, cancelled

    # ------------------------------------------------------------------ maintenance

    def queued_rows(self, older_than: Any) -> list[BatchJob]:
        return list(
            BatchJob.objects.filter(status=JobStatus.QUEUED, enqueued_at__lt=older_than)
            .select_related("batch")
            .only("id", "rq_job_id", "timeout", "batch__queue", "batch__id", "enqueued_at")
        )

    def running_rows(self) -> list[BatchJob]:
        return list(BatchJob.objects.filter(status=JobStatus.RUNNING).select_related("batch"))


#: Module-level instance used by the engine.
storage = SQLStorage()


def delete_batches(batch_ids: Sequence[Any]) -> tuple[int, int]:
    """Delete batches and all their rows in one pass per chunk; returns (batches, job rows).

    Uses plain DELETE statements: the ORM's collector would load every job row to follow the
    compensation self-reference. Foreign keys are checked at commit (Django creates them
    deferrable), so the order within the transaction does not matter.
    """
    from django.db import connections, router

    alias = router.db_for_write(Batch)
    connection = connections[alias]
    q = connection.ops.quote_name
    jobs_t, batch_t = q(BatchJob._meta.db_table), q(Batch._meta.db_table)
    pk_field = Batch._meta.pk
    deleted_batches = deleted_jobs = 0
    for start in range(0, len(batch_ids), 500):
        chunk = [pk_field.get_db_prep_value(b, connection) for b in batch_ids[start : start + 500]]
        marks = ", ".join(["%s"] * len(chunk))
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {jobs_t} WHERE batch_id IN ({marks})", chunk)
            deleted_jobs += cursor.rowcount
            cursor.execute(f"DELETE FROM {batch_t} WHERE id IN ({marks})", chunk)
            deleted_batches += cursor.rowcount
    return deleted_batches, deleted_jobs
