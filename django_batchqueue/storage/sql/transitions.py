"""Every status change of the SQL backend: one conditional ``UPDATE`` whose row count decides who
acts. Counters move with ``F()`` increments; nothing here reads a status and then writes it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connections, router, transaction
from django.db.models import CharField, F, Q, QuerySet, Value
from django.db.models.functions import Cast, Replace
from django.utils import timezone

from ...models import Batch, BatchJob
from ...states import FINISHED_BATCH, MEMBER_KINDS, OPEN_BATCH, BatchStatus, JobKind, JobStatus
from ..records import COUNTER_OF, JobRecord
from . import convert

# ---------------------------------------------------------------------------- job rows


def _this_run(row: JobRecord) -> QuerySet[BatchJob]:
    """The row, if it is still in the run ``row`` describes (running, for the same RQ job).

    A run that reconciliation already gave up on (and possibly retried elsewhere) can no longer
    record anything.
    """
    return BatchJob.objects.filter(pk=row.id, status=JobStatus.RUNNING, rq_job_id=row.rq_job_id)


def finish(
    row: JobRecord,
    status: str,
    *,
    result: Any = None,
    error: str = "",
    traceback: str = "",
    counted: bool = False,
    context: dict[str, Any] | None = None,
) -> bool:
    """running -> completed/failed/cancelled. A completed row keeps its last failed attempt's
    error. ``counted``: count it on its batch too (the caller's transaction holds both)."""
    changes: dict[str, Any] = {"status": status, "result": result, "finished_at": timezone.now()}
    if status == JobStatus.FAILED:
        changes.update(error=error, traceback=traceback)
    won = bool(_this_run(row).update(**changes))
    if won:
        row.status = status
        if counted:
            count(row.batch_id, **{COUNTER_OF[status]: 1}, context=context)
    return won


def requeue_after_failure(row: JobRecord, rq_job_id: str, error: str, traceback: str) -> bool:
    now = timezone.now()
    return bool(
        _this_run(row).update(
            status=JobStatus.QUEUED,
            rq_job_id=rq_job_id,
            error=error,
            traceback=traceback,
            enqueued_at=now,
            finished_at=now,
        )
    )


def queue_pending(
    row_id: uuid.UUID,
    rq_job_id: str,
    *,
    batch_id: uuid.UUID | None = None,
    meta: dict[str, Any] | None = None,
) -> bool:
    """pending -> queued; a job of ``batch_id`` also leaves that batch's ``waiting_jobs``."""
    changes: dict[str, Any] = {
        "status": JobStatus.QUEUED,
        "rq_job_id": rq_job_id,
        "enqueued_at": timezone.now(),
    }
    if meta is not None:
        changes["meta"] = meta
    won = bool(BatchJob.objects.filter(pk=row_id, status=JobStatus.PENDING).update(**changes))
    if won and batch_id is not None:
        count(batch_id, waiting=-1)
    return won


#: Rows moved to new RQ jobs per statement by :func:`reassign_rq_jobs`.
REASSIGN_CHUNK = 1000


def reassign_rq_jobs(changes: Sequence[tuple[uuid.UUID, str, str]]) -> set[uuid.UUID]:
    """One ``UPDATE ... FROM (VALUES ...) RETURNING`` per :data:`REASSIGN_CHUNK` rows, each
    row moving only from the RQ job id it was seen with."""
    alias = router.db_for_write(BatchJob)
    connection = connections[alias]
    q = connection.ops.quote_name
    table = q(BatchJob._meta.db_table)
    pk_field = BatchJob._meta.pk
    assert pk_field is not None
    now = BatchJob._meta.get_field("enqueued_at").get_db_prep_value(timezone.now(), connection)
    cast = "::uuid" if connection.vendor == "postgresql" else ""
    moved: set[uuid.UUID] = set()
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        for start in range(0, len(changes), REASSIGN_CHUNK):
            chunk = changes[start : start + REASSIGN_CHUNK]
            values = ", ".join([f"(%s{cast}, %s, %s)"] * len(chunk))
            params: list[Any] = []
            for row_id, old, new in chunk:
                params += [pk_field.get_db_prep_value(row_id, connection), old, new]
            cursor.execute(
                f"UPDATE {table} SET rq_job_id = v.new, enqueued_at = %s "
                "FROM (SELECT column1 AS id, column2 AS old, column3 AS new "
                f"FROM (VALUES {values}) AS given) AS v "
                f"WHERE {table}.id = v.id AND {table}.rq_job_id = v.old "
                f"AND {table}.status = %s RETURNING {table}.id",
                [now, *params, JobStatus.QUEUED],
            )
            moved.update(pk_field.to_python(found) for (found,) in cursor.fetchall())
    return moved


def start_virtual(row_id: uuid.UUID, *, batch_id: uuid.UUID | None = None) -> bool:
    """pending -> running for a row no RQ job runs (a nested batch's member row, or the
    compensation run that undoes one); a member of ``batch_id`` leaves its waiting jobs."""
    now = timezone.now()
    won = bool(
        BatchJob.objects.filter(pk=row_id, status=JobStatus.PENDING).update(
            status=JobStatus.RUNNING, started_at=now, enqueued_at=now, attempts=F("attempts") + 1
        )
    )
    if won and batch_id is not None:
        count(batch_id, waiting=-1)
    return won


def reopen_child(batch_id: uuid.UUID) -> bool:
    """A failed or cancelled nested batch back to pending, to be started again by its parent."""
    return bool(
        Batch.objects.filter(
            pk=batch_id,
            status__in=(BatchStatus.FAILED, BatchStatus.CANCELLED),
            compensation_status__isnull=True,
        ).update(
            status=BatchStatus.PENDING,
            error="",
            finished_at=None,
            finalized_at=None,
            updated_at=timezone.now(),
        )
    )


#: A row's first RQ job id: its own id as 32 hex digits (as at dispatch), computed in SQL.
_FIRST_RQ_JOB_ID = Replace(Cast("id", output_field=CharField()), Value("-"), Value(""))


def release_waiting(
    batch_id: uuid.UUID, limit: int
) -> list[tuple[uuid.UUID, str, int | None, str]]:
    """Release up to ``limit`` minus the members already queued or running, lowest position
    first: a job pending -> queued (for RQ), a nested batch's member row pending -> running.
    Returns ``(row id, RQ job id or "", timeout, kind)`` of each released member.

    Runs inside the caller's transaction and writes to the batch row first, so two releases of
    one batch never both count the same free places; the rows it picks cannot change meanwhile
    (pending rows are in no RQ queue, and cancelling writes to the batch row first too).
    """
    if not lock(batch_id):
        return []
    found = (
        Batch.objects.filter(pk=batch_id, status__in=OPEN_BATCH)
        .values_list(
            "total_jobs", "completed_jobs", "failed_jobs", "cancelled_jobs", "waiting_jobs"
        )
        .first()
    )
    if found is None:
        return []
    total, completed, failed, cancelled, waiting = found
    n = min(waiting, limit - (total - completed - failed - cancelled - waiting))
    if n <= 0:
        return []
    # One ordered index range per member kind (an IN over kinds would read and sort every
    # pending row of a large batch), merged by position.
    candidates = [
        found_row
        for kind in MEMBER_KINDS
        for found_row in BatchJob.objects.filter(
            batch_id=batch_id, kind=kind, status=JobStatus.PENDING
        )
        .order_by("position")
        .values_list("position", "id", "timeout", "kind")[:n]
    ]
    rows = [(row_id, timeout, kind) for _, row_id, timeout, kind in sorted(candidates)[:n]]
    now = timezone.now()
    jobs = [row_id for row_id, _, kind in rows if kind == JobKind.JOB]
    members = [row_id for row_id, _, kind in rows if kind != JobKind.JOB]
    if jobs:
        BatchJob.objects.filter(pk__in=jobs).update(
            status=JobStatus.QUEUED, rq_job_id=_FIRST_RQ_JOB_ID, enqueued_at=now
        )
    if members:  # nested batches: their member rows run while the child does
        BatchJob.objects.filter(pk__in=members).update(
            status=JobStatus.RUNNING, started_at=now, enqueued_at=now, attempts=F("attempts") + 1
        )
    count(batch_id, waiting=-len(rows))
    return [
        (row_id, row_id.hex if kind == JobKind.JOB else "", timeout, kind)
        for row_id, timeout, kind in rows
    ]


def cancel_unstarted(batch_id: uuid.UUID) -> int:
    """pending/queued members -> cancelled, counted on the batch (and off its waiting jobs).

    A nested batch whose member row is cancelled here never started; closing it is the
    caller's (:func:`~django_batchqueue.execution.settling.cancel`).
    """
    members = BatchJob.objects.filter(batch_id=batch_id, kind__in=MEMBER_KINDS)
    now = timezone.now()
    waiting = members.filter(status=JobStatus.PENDING).update(
        status=JobStatus.CANCELLED, finished_at=now
    )
    queued = members.filter(status=JobStatus.QUEUED).update(
        status=JobStatus.CANCELLED, finished_at=now
    )
    if waiting or queued:
        count(batch_id, cancelled=waiting + queued, waiting=-waiting)
    return waiting + queued


# ---------------------------------------------------------------------------- batch row


def lock(batch_id: uuid.UUID) -> bool:
    """Write to the batch row so the rest of the transaction serialises with others on it.

    On PostgreSQL this takes the row lock; on SQLite the write lock is taken before any read of
    the transaction (with ``transaction_mode = "IMMEDIATE"``, at its start).
    """
    return bool(Batch.objects.filter(pk=batch_id).update(updated_at=timezone.now()))


def count(
    batch_id: uuid.UUID,
    *,
    completed: int = 0,
    failed: int = 0,
    cancelled: int = 0,
    waiting: int = 0,
    context: dict[str, Any] | None = None,
) -> bool:
    """Add to counters (and in a chain store the context); also locks the batch row."""
    changes: dict[str, Any] = {"updated_at": timezone.now()}
    for name, n in (
        ("completed_jobs", completed),
        ("failed_jobs", failed),
        ("cancelled_jobs", cancelled),
        ("waiting_jobs", waiting),
    ):
        if n:
            changes[name] = F(name) + n
    if context is not None:
        changes["context"] = context
    return bool(Batch.objects.filter(pk=batch_id).update(**changes))


def grow(
    batch_id: uuid.UUID,
    n: int,
    has_compensation: bool,
    waiting: int = 0,
    has_children: bool = False,
) -> bool:
    changes: dict[str, Any] = {"total_jobs": F("total_jobs") + n, "updated_at": timezone.now()}
    if waiting:
        changes["waiting_jobs"] = F("waiting_jobs") + waiting
    if has_children:
        changes["has_children"] = True
    if has_compensation:
        changes["has_compensation"] = True
    return bool(Batch.objects.filter(pk=batch_id, status__in=OPEN_BATCH).update(**changes))


def mark_started(batch_id: uuid.UUID) -> bool:
    now = timezone.now()
    return bool(
        Batch.objects.filter(pk=batch_id, status=BatchStatus.PENDING).update(
            status=BatchStatus.RUNNING, started_at=now, updated_at=now
        )
    )


def settle(batch_id: uuid.UUID, recount: bool = False) -> bool:
    now = timezone.now()
    done = F("completed_jobs") + F("failed_jobs") + F("cancelled_jobs")
    # A strict batch with a failed member fails instead (settling.fail), never completes.
    strict_failed = Q(allow_failures=False, failed_jobs__gt=0)
    return bool(
        Batch.objects.filter(pk=batch_id, status__in=OPEN_BATCH, total_jobs__lte=done)
        .exclude(strict_failed)
        .update(status=BatchStatus.COMPLETED, finished_at=now, updated_at=now)
    )


def close(batch_id: uuid.UUID, status: str, error: str = "", undo: bool = False) -> bool:
    now = timezone.now()
    return bool(
        Batch.objects.filter(pk=batch_id, status__in=OPEN_BATCH).update(
            status=status, error=error, finished_at=now, updated_at=now
        )
    )


def reopen_for_retry(batch_id: uuid.UUID) -> bool:
    retryable = Q(status=BatchStatus.FAILED) | Q(
        status=BatchStatus.COMPLETED, allow_failures=True, failed_jobs__gt=0
    )
    return bool(
        Batch.objects.filter(retryable, pk=batch_id, compensation_status__isnull=True).update(
            status=BatchStatus.RUNNING,
            error="",
            finished_at=None,
            finalized_at=None,
            updated_at=timezone.now(),
        )
    )


def outcome_written(batch_id: uuid.UUID) -> None:
    """Nothing to clear: an ending and its follow-ups commit together."""


def finalize(batch_id: uuid.UUID) -> bool:
    return bool(
        Batch.objects.filter(
            pk=batch_id, status__in=FINISHED_BATCH, finalized_at__isnull=True
        ).update(finalized_at=timezone.now())
    )


def set_compensation_status(
    batch_id: uuid.UUID, status: str, only_if: Iterable[str | None] | None = None
) -> bool:
    qs = Batch.objects.filter(pk=batch_id)
    if only_if is not None:
        allowed = list(only_if)
        cond = Q(compensation_status__in=[s for s in allowed if s is not None])
        if None in allowed:
            cond |= Q(compensation_status__isnull=True)
        qs = qs.filter(cond)
    return bool(qs.update(compensation_status=status, updated_at=timezone.now()))


def reset_for_retry(batch_id: uuid.UUID) -> list[JobRecord]:
    """Failed/cancelled members back to pending (uncounted); returned in position order."""
    rows = convert.jobs(
        BatchJob.objects.filter(
            batch_id=batch_id,
            kind__in=MEMBER_KINDS,
            status__in=(JobStatus.FAILED, JobStatus.CANCELLED),
        ).order_by("position")
    )
    failed = sum(1 for r in rows if r.status == JobStatus.FAILED)
    cancelled = len(rows) - failed
    BatchJob.objects.filter(pk__in=[r.id for r in rows]).update(
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
        failed_jobs=F("failed_jobs") - failed,
        cancelled_jobs=F("cancelled_jobs") - cancelled,
        waiting_jobs=F("waiting_jobs") + len(rows),
    )
    for r in rows:
        r.status = JobStatus.PENDING
    return rows
