"""Operations on existing batches, shared by the Python API, the admin, the REST API and the
management commands: add jobs, cancel, retry failed jobs, prune."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone

from ..definitions import NestedSpec, parse_jobs
from ..exceptions import BatchClosed, BatchNotFound, CompensationStarted, NothingToRetry
from ..states import BatchStatus, JobKind
from ..storage import get_storage
from ..storage.base import Storage
from ..storage.records import NESTED_UNDO, BatchRecord
from . import aftermath, flow, settling, tree
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
    """Append members (jobs, or undispatched builders: nested batches) to a pending or running
    batch; returns their ids (empty input: no change)."""
    uid = parse_batch_id(batch_id)
    entries = parse_jobs(jobs)
    if not entries:
        return []
    storage = get_storage()
    fx = Effects(storage)
    with storage.decide(uid) as exists:
        if not exists:
            raise BatchNotFound(f"no batch with id {str(uid)!r}")
        batch = _loaded(uid)
        nested = [e for e in entries if isinstance(e, NestedSpec)]
        member_ids = {id(e): uuid.uuid4() for e in nested}
        planned = flow.plan(
            entries,
            batch_type=batch.type,
            queue=batch.queue,
            defaults=batch.options,
            limit=flow.limit_of(batch),
            at_dispatch=False,
            member_ids=member_ids,
            nested_undo=NESTED_UNDO,
        )
        rows = list(planned)  # their ids are returned
        has_compensation = any(
            e.plan.has_compensation if isinstance(e, NestedSpec) else bool(e.compensation_path)
            for e in entries
        )
        # Growing total_jobs fails once the batch has finished (the decision holds it, so it
        # cannot settle meanwhile): added members are never orphaned.
        if not storage.grow(
            uid,
            len(rows),
            has_compensation,
            waiting=planned.waiting,
            has_children=bool(nested),
        ):
            raise BatchClosed(
                f"batch {uid} is {storage.batch_status(uid)}; jobs can only be added to a "
                "pending or running batch"
            )
        start = storage.max_position(uid) + 1
        for row in rows:
            row.position += start
        storage.add_new_jobs(uid, rows)
        batch = _loaded(uid)
        for entry in nested:
            for node in tree.flatten(
                entry.plan,
                created_by_id=batch.created_by_id,
                parent=batch,
                member_id=member_ids[id(entry)],
            ):
                storage.create_batch(node.batch, node.rows)
        for item in planned.enqueues:
            fx.enqueue(item)
        flow.after_add(storage, batch, fx)
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
    """Re-queue the failed and cancelled members of a failed batch (the failed ones of a
    completed allow-failures batch), nested batches recursively; returns how many leaf jobs."""
    uid = parse_batch_id(batch_id)
    storage = get_storage()
    fx = Effects(storage)
    with storage.decide(uid) as exists:
        if not exists:
            raise BatchNotFound(f"no batch with id {str(uid)!r}")
        batch = _loaded(uid)
        if batch.compensation_status is not None:
            raise CompensationStarted(
                f"batch {uid} cannot be retried: its compensation has started "
                f"(compensation_status {batch.compensation_status})"
            )
        if not can_retry(batch):
            detail = " with no failed jobs" if batch.status == BatchStatus.COMPLETED else ""
            raise NothingToRetry(
                f"batch {uid} is {batch.status}{detail}; only a failed batch, or a completed "
                "allow-failures batch with failed jobs, can be retried"
            )
        _refuse_compensated_children(storage, batch)
        if not storage.reopen_for_retry(uid):
            raise NothingToRetry(f"batch {uid} changed meanwhile; try again")
        requeued = _reset_tree(storage, uid)
        flow.after_retry(storage, _loaded(uid), [], fx)
        fx.release()
    return requeued


def _refuse_compensated_children(storage: Storage, batch: BatchRecord) -> None:
    """Refuse, before anything is written, a retry that would restart an undone nested batch."""
    if not batch.has_children:
        return
    for _, child in storage.children(batch.id):
        if child.status in (BatchStatus.FAILED, BatchStatus.CANCELLED):
            if child.compensation_status is not None:
                raise CompensationStarted(
                    f"batch {batch.id} cannot be retried: its nested batch {child.id} has "
                    f"started compensating (compensation_status {child.compensation_status})"
                )
            _refuse_compensated_children(storage, child)


def _reset_tree(storage: Storage, batch_id: uuid.UUID) -> int:
    """Failed and cancelled members back to pending, nested batches reopened recursively;
    how many leaf jobs were reset."""
    requeued = 0
    for row in storage.reset_for_retry(batch_id):
        if row.kind != JobKind.BATCH:
            requeued += 1
            continue
        child = storage.child_of(row.id)
        if child is not None and child.status != BatchStatus.COMPLETED:
            storage.reopen_child(child.id)
            requeued += _reset_tree(storage, child.id)
    return requeued


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
