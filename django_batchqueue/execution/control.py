"""Operations on existing batches, shared by the Python API, the admin, the REST API and the
management commands: add jobs, cancel, retry failed jobs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone

from ..definitions import parse_jobs
from ..exceptions import BatchClosed, BatchNotFound, CompensationStarted, NothingToRetry
from ..models import Batch, BatchJob
from ..states import BatchStatus, BatchType, JobKind
from ..storage import get_storage
from ..storage.sql import delete_batches
from . import orchestration
from .planning import build_job_rows
from .queues import Enqueue, enqueue_on_commit


def parse_batch_id(batch_id: Any) -> uuid.UUID:
    """A batch id as a UUID; raises :class:`BatchNotFound` naming a malformed value."""
    if isinstance(batch_id, uuid.UUID):
        return batch_id
    try:
        return uuid.UUID(str(batch_id))
    except (TypeError, ValueError, AttributeError):
        raise BatchNotFound(f"no batch with id {batch_id!r} (not a UUID)") from None


def add_jobs(batch_id: Any, jobs: Any) -> list[str]:
    """Append jobs to a pending or running batch; returns their ids (empty input: no change)."""
    uid = parse_batch_id(batch_id)
    specs = parse_jobs(jobs)
    if not specs:
        return []
    storage = get_storage()
    enq: list[Enqueue] = []
    with storage.atomic():
        # Growing total_jobs first locks the batch row: a batch cannot settle while we add, and
        # if it settled first we see it here and refuse, so added jobs are never orphaned.
        if not storage.grow(uid, len(specs), any(s.compensation_path for s in specs)):
            status = storage.batch_status(uid)
            if status is None:
                raise BatchNotFound(f"no batch with id {str(uid)!r}")
            raise BatchClosed(
                f"batch {uid} is {status}; jobs can only be added to a pending or running batch"
            )
        batch = storage.get_batch(uid)
        assert batch is not None
        rows, enq = build_job_rows(
            specs,
            batch_type=batch.type,
            queue=batch.queue,
            defaults=batch.options,
            start_position=storage.max_position(uid) + 1,
            start_now=False,
        )
        storage.add_new_jobs(uid, rows)
        if batch.type == BatchType.SEQUENTIAL and not storage.has_active(uid, JobKind.JOB):
            nxt = storage.next_pending_step(uid)
            if nxt is not None:
                orchestration.queue_row(nxt, batch.queue, enq)
        enqueue_on_commit(enq)
    return [str(row.id) for row in rows]


def cancel(batch_id: Any, compensate: bool = False) -> bool:
    """Cancel an open batch; False when it had already finished."""
    uid = parse_batch_id(batch_id)
    storage = get_storage()
    enq: list[Enqueue] = []
    with storage.atomic():
        if not storage.lock(uid):
            raise BatchNotFound(f"no batch with id {str(uid)!r}")
        batch = storage.get_batch(uid)
        assert batch is not None
        done = orchestration.cancel_batch(batch, compensate, enq)
        enqueue_on_commit(enq)
    return done


def can_retry(batch: Batch) -> bool:
    """Whether :func:`retry_failed` applies to ``batch`` as loaded (the database decides)."""
    if batch.compensation_status is not None:
        return False
    return batch.status == BatchStatus.FAILED or (
        batch.status == BatchStatus.COMPLETED and batch.allow_failures and batch.failed_jobs > 0
    )


def retry_failed(batch_id: Any) -> int:
    """Re-queue the failed and cancelled jobs of a failed batch (the failed jobs of a completed
    allow-failures batch); returns how many."""
    uid = parse_batch_id(batch_id)
    storage = get_storage()
    enq: list[Enqueue] = []
    with storage.atomic():
        if not storage.lock(uid):
            raise BatchNotFound(f"no batch with id {str(uid)!r}")
        if not storage.reopen_for_retry(uid):
            batch = storage.get_batch(uid)
            assert batch is not None
            if batch.compensation_status is not None:
                raise CompensationStarted(
                    f"batch {uid} cannot be retried: its compensation has started "
                    f"(compensation_status {batch.compensation_status})"
                )
            detail = " with no failed jobs" if batch.status == BatchStatus.COMPLETED else ""
            raise NothingToRetry(
                f"batch {uid} is {batch.status}{detail}; only a failed batch, or a completed "
                "allow-failures batch with failed jobs, can be retried"
            )
        batch = storage.get_batch(uid)
        assert batch is not None
        rows, _, _ = storage.reset_for_retry(uid)
        starting = rows[:1] if batch.type == BatchType.SEQUENTIAL else rows
        for row in starting:
            orchestration.queue_row(row, batch.queue, enq)
        enqueue_on_commit(enq)
    return len(rows)


@dataclass(frozen=True)
class PruneReport:
    finished_batches: int
    unfinished_batches: int
    jobs: int
    dry_run: bool


def prune(
    *, finished_hours: float, unfinished_hours: float | None = None, dry_run: bool = False
) -> PruneReport:
    """Delete finished batches older than ``finished_hours`` (by ``finished_at``) and, when
    given, unfinished ones created more than ``unfinished_hours`` ago, with all their rows."""
    now = timezone.now()
    finished = list(
        Batch.objects.finished()
        .filter(finished_at__lt=now - timedelta(hours=finished_hours))
        .values_list("pk", flat=True)
    )
    unfinished: list[Any] = []
    if unfinished_hours is not None:
        unfinished = list(
            Batch.objects.unfinished()
            .filter(created_at__lt=now - timedelta(hours=unfinished_hours))
            .values_list("pk", flat=True)
        )
    ids = finished + unfinished
    if dry_run:
        jobs = BatchJob.objects.filter(batch_id__in=ids).count() if ids else 0
    else:
        _, jobs = delete_batches(ids)
    return PruneReport(len(finished), len(unfinished), jobs, dry_run)
