"""Operations on existing batches, shared by the Python API, the admin, the REST API and the
management commands: add jobs, cancel, retry failed jobs, prune."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone

from ..definitions import parse_jobs
from ..exceptions import BatchClosed, BatchNotFound, CompensationStarted, NothingToRetry
from ..states import BatchStatus
from ..storage import get_storage
from ..storage.records import BatchRecord
from . import aftermath, flow, settling
from .effects import Effects


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
    fx = Effects(storage)
    with storage.atomic():
        batch = storage.get_batch(uid)
        if batch is None:
            raise BatchNotFound(f"no batch with id {str(uid)!r}")
        rows, enq = flow.plan(
            specs,
            batch_type=batch.type,
            queue=batch.queue,
            defaults=batch.options,
            limit=flow.limit_of(batch),
            at_dispatch=False,
        )
        # Growing total_jobs locks the batch: it cannot settle while we add, and if it settled
        # first we see it here and refuse, so added jobs are never orphaned.
        has_compensation = any(s.compensation_path for s in specs)
        if not storage.grow(uid, len(rows), has_compensation, waiting=flow.waiting_in(rows)):
            raise BatchClosed(
                f"batch {uid} is {storage.batch_status(uid)}; jobs can only be added to a "
                "pending or running batch"
            )
        start = storage.max_position(uid) + 1  # read under the lock: positions never clash
        for row in rows:
            row.position += start
        storage.add_new_jobs(uid, rows)
        for item in enq:
            fx.enqueue(item)
        flow.after_add(storage, _loaded(uid), fx)
        fx.release()
    return [str(row.id) for row in rows]


def cancel(batch_id: Any, compensate: bool = False) -> bool:
    """Cancel an open batch; False when it had already finished."""
    uid = parse_batch_id(batch_id)
    storage = get_storage()
    fx = Effects(storage)
    with storage.decide(uid) as exists:
        if not exists:
            raise BatchNotFound(f"no batch with id {str(uid)!r}")
        done = settling.cancel(storage, _loaded(uid), compensate, fx)
        aftermath.after_outcomes(storage, fx)
        fx.release()
    return done


def can_retry(batch: Any) -> bool:
    """Whether :func:`retry_failed` applies to ``batch`` as loaded (storage decides)."""
    if batch.compensation_status is not None:
        return False
    return bool(
        batch.status == BatchStatus.FAILED
        or (batch.status == BatchStatus.COMPLETED and batch.allow_failures and batch.failed_jobs)
    )


def retry_failed(batch_id: Any) -> int:
    """Re-queue the failed and cancelled jobs of a failed batch (the failed jobs of a completed
    allow-failures batch); returns how many."""
    uid = parse_batch_id(batch_id)
    storage = get_storage()
    fx = Effects(storage)
    with storage.decide(uid) as exists:
        if not exists:
            raise BatchNotFound(f"no batch with id {str(uid)!r}")
        if not storage.reopen_for_retry(uid):
            batch = _loaded(uid)
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
        rows = storage.reset_for_retry(uid)
        flow.after_retry(storage, _loaded(uid), rows, fx)
        fx.release()
    return len(rows)


def _loaded(batch_id: uuid.UUID) -> BatchRecord:
    batch = get_storage().get_batch(batch_id)
    assert batch is not None  # inside a unit of work that saw it
    return batch


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
    storage = get_storage()
    now = timezone.now()
    finished, unfinished = storage.batches_to_prune(
        now - timedelta(hours=finished_hours),
        None if unfinished_hours is None else now - timedelta(hours=unfinished_hours),
    )
    ids = finished + unfinished
    if dry_run:
        jobs = storage.count_rows(ids)
    else:
        _, jobs = storage.delete_batches(ids)
    return PruneReport(len(finished), len(unfinished), jobs, dry_run)
