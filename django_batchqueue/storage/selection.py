"""Selection rules over records, for backends that filter in Python (memory, Redis).

The SQL backend says the same in its queries; these are the one Python statement of them:
which batches a listing shows and in what order, in what order a batch's rows are listed,
whether a quiet batch needs a nudge, and which batches prune takes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone

from ..states import FINISHED_BATCH, OPEN_BATCH, BatchType, CompensationStatus, JobKind, JobStatus
from .base import BatchQuery, JobQuery
from .records import BatchRecord, JobRecord


def matching_batches(query: BatchQuery, batches: Iterable[BatchRecord]) -> list[BatchRecord]:
    """The batches ``query`` selects, newest first (then by id)."""

    def keep(b: BatchRecord) -> bool:
        return all(
            [
                query.status is None or b.status == query.status,
                query.type is None or b.type == query.type,
                query.has_compensation is None or b.has_compensation == query.has_compensation,
                not query.name_contains or query.name_contains.lower() in b.name.lower(),
                query.created_after is None or b.created_at >= query.created_after,
                query.created_before is None or b.created_at < query.created_before,
                query.created_by_id is None or b.created_by_id == query.created_by_id,
            ]
        )

    found = [b for b in batches if keep(b)]
    return sorted(found, key=lambda b: (b.created_at, str(b.id)), reverse=True)


def ordered_rows(query: JobQuery, rows: Iterable[JobRecord]) -> list[JobRecord]:
    """The rows (already of the query's batch and kind) with its status, in its order."""
    found = [r for r in rows if query.status is None or r.status == query.status]
    if query.order == "ran":
        found = [r for r in found if r.started_at is not None]
        return sorted(found, key=lambda r: (r.started_at, r.created_at))
    if query.order == "started":
        far = datetime.max.replace(tzinfo=timezone.get_current_timezone())
        return sorted(found, key=lambda r: (r.started_at or far, r.position, r.created_at))
    return sorted(found, key=lambda r: (r.position, r.created_at))


def needs_nudge(batch: BatchRecord, runs: Iterable[JobRecord]) -> bool:
    """Whether a quiet batch with nothing active may be stuck: it should have settled, a chain
    should have advanced, jobs wait for their turn, compensation is under way, or a callback
    waits to start (``runs``: its rows, or at least its callback rows); or, where an ending and
    what follows it are not one transaction (Redis storage), a worker died in between: it
    ended and nothing runs, but it was never finalized (``on_finally`` and the TTL are still to
    come). A batch still marked ``acting`` is nudged whatever runs (the backend checks that
    first)."""
    is_open = batch.status in OPEN_BATCH
    done = batch.completed_jobs + batch.failed_jobs + batch.cancelled_jobs
    return (
        (batch.status in FINISHED_BATCH and batch.finalized_at is None)
        or (is_open and batch.total_jobs <= done)
        or (is_open and batch.type == BatchType.SEQUENTIAL)
        or (is_open and batch.waiting_jobs > 0)
        or batch.compensation_status == CompensationStatus.RUNNING
        or any(r.kind == JobKind.CALLBACK and r.status == JobStatus.PENDING for r in runs)
    )


def to_prune(
    batches: Iterable[BatchRecord],
    finished_before: datetime,
    unfinished_created_before: datetime | None,
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """(finished, unfinished) ids of the batches prune takes."""
    every = list(batches)
    finished = [
        b.id
        for b in every
        if b.status in FINISHED_BATCH and b.finished_at and b.finished_at < finished_before
    ]
    unfinished = []
    if unfinished_created_before is not None:
        unfinished = [
            b.id
            for b in every
            if b.status not in FINISHED_BATCH and b.created_at < unfinished_created_before
        ]
    return finished, unfinished
