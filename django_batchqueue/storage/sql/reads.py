"""Reads of the SQL backend: what the engine decides with, and what users look at.

Each read is one query (listings: one for the page, one for the count), whatever a batch's size.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.db.models import Count, F, Max, OuterRef, QuerySet, Subquery, Sum

from ...models import Batch, BatchJob
from ...states import ACTIVE_JOB, MEMBER_KINDS, BatchType, JobKind, JobStatus
from ..base import BatchQuery, JobQuery
from ..records import BatchRecord, JobRecord
from . import convert

# ---------------------------------------------------------------------------- engine reads


def get_batch(batch_id: uuid.UUID) -> BatchRecord | None:
    found = convert.batches(Batch.objects.filter(pk=batch_id))
    return found[0] if found else None


def load_job(row_id: uuid.UUID) -> JobRecord | None:
    row = convert.first_job(BatchJob.objects.filter(pk=row_id))
    if row is not None:
        row.batch = get_batch(row.batch_id)
    return row


def job_status(row_id: uuid.UUID) -> str | None:
    return BatchJob.objects.filter(pk=row_id).values_list("status", flat=True).first()


def batch_status(batch_id: uuid.UUID) -> str | None:
    return Batch.objects.filter(pk=batch_id).values_list("status", flat=True).first()


def max_position(batch_id: uuid.UUID) -> int:
    found = BatchJob.objects.filter(batch_id=batch_id, kind__in=MEMBER_KINDS).aggregate(
        m=Max("position")
    )["m"]
    return -1 if found is None else int(found)


def first_pending(
    batch_id: uuid.UUID, kind: str | tuple[str, ...], newest_first: bool = False
) -> JobRecord | None:
    kinds = (kind,) if isinstance(kind, str) else kind
    order = ("-position",) if newest_first else ("sequence", "position")
    return convert.first_job(
        BatchJob.objects.filter(
            batch_id=batch_id, kind__in=kinds, status=JobStatus.PENDING
        ).order_by(*order)
    )


def has_active(batch_id: uuid.UUID, kind: str | tuple[str, ...]) -> bool:
    kinds = (kind,) if isinstance(kind, str) else kind
    return BatchJob.objects.filter(
        batch_id=batch_id, kind__in=kinds, status__in=ACTIVE_JOB
    ).exists()


def completed_with_compensation(batch_id: uuid.UUID) -> list[JobRecord]:
    return convert.jobs(
        BatchJob.objects.filter(
            batch_id=batch_id, kind__in=MEMBER_KINDS, status=JobStatus.COMPLETED
        )
        .exclude(compensation_path="")
        .exclude(compensations__isnull=False)
        .order_by("position")
    )


def running_with_compensation(batch_id: uuid.UUID) -> bool:
    return (
        BatchJob.objects.filter(batch_id=batch_id, kind__in=MEMBER_KINDS, status__in=ACTIVE_JOB)
        .exclude(compensation_path="")
        .exists()
    )


def compensation_failures(batch_id: uuid.UUID) -> int:
    return BatchJob.objects.filter(
        batch_id=batch_id, kind=JobKind.COMPENSATION, status=JobStatus.FAILED
    ).count()


# ---------------------------------------------------------------------------- user reads


def user_batch(batch_id: uuid.UUID) -> Batch | None:
    return Batch.objects.filter(pk=batch_id).first()


def child_of(member_id: uuid.UUID) -> BatchRecord | None:
    found = convert.batches(Batch.objects.filter(member_id=member_id))
    return found[0] if found else None


def _children(batch_id: uuid.UUID) -> QuerySet[Batch]:
    positions = BatchJob.objects.filter(pk=OuterRef("member_id")).order_by().values("position")[:1]
    return (
        Batch.objects.filter(parent_id=batch_id)
        .annotate(member_position=Subquery(positions))
        .order_by("member_position")
    )


def children(batch_id: uuid.UUID) -> list[tuple[int, BatchRecord]]:
    found = _children(batch_id).values(*convert.BATCH_FIELDS, "member_position")
    return [(values.pop("member_position"), BatchRecord(**values)) for values in found]


def user_children(batch_id: uuid.UUID) -> list[Batch]:
    return list(_children(batch_id))


def member_result(child: BatchRecord) -> Any:
    """A nested batch's result as a member: a chain's last step's result; a parallel batch's
    members' results in position order (``None`` for one that did not complete)."""
    members = BatchJob.objects.filter(batch_id=child.id, kind__in=MEMBER_KINDS).order_by("position")
    if child.type == BatchType.SEQUENTIAL:
        last = members.reverse().values_list("status", "result").first()
        return last[1] if last and last[0] == JobStatus.COMPLETED else None
    return [
        result if status == JobStatus.COMPLETED else None
        for status, result in members.values_list("status", "result")
    ]


def result_at(batch_id: uuid.UUID, position: int) -> Any:
    """The result of the member at ``position`` (``None`` if it did not complete)."""
    found = (
        BatchJob.objects.filter(batch_id=batch_id, kind__in=MEMBER_KINDS, position=position)
        .values_list("status", "result")
        .first()
    )
    return found[1] if found and found[0] == JobStatus.COMPLETED else None


def compensation_of(batch_id: uuid.UUID, original_id: uuid.UUID) -> JobRecord | None:
    """The compensation run of ``batch_id`` that undoes member ``original_id``."""
    return convert.first_job(
        BatchJob.objects.filter(
            batch_id=batch_id, kind=JobKind.COMPENSATION, compensates_id=original_id
        )
    )


def leaf_counts(batch: Any) -> dict[str, int]:
    """The four counters summed over the leaf jobs of the batch's whole subtree (two queries):
    every batch's own counters, less the nested batches counted as members."""
    root = batch.root_id or batch.pk
    subtree = Batch.objects.filter(root_id=root, path__startswith=batch.path)
    sums = subtree.aggregate(
        total=Sum("total_jobs"),
        completed=Sum("completed_jobs"),
        failed=Sum("failed_jobs"),
        cancelled=Sum("cancelled_jobs"),
    )
    nested = dict(
        BatchJob.objects.filter(
            kind=JobKind.BATCH,
            batch__root_id=root,
            batch__path__startswith=batch.path,
        )
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    finished = {
        s: nested.get(s, 0) for s in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)
    }
    return {
        "total_jobs": (sums["total"] or 0) - sum(nested.values()),
        "completed_jobs": (sums["completed"] or 0) - finished[JobStatus.COMPLETED],
        "failed_jobs": (sums["failed"] or 0) - finished[JobStatus.FAILED],
        "cancelled_jobs": (sums["cancelled"] or 0) - finished[JobStatus.CANCELLED],
    }


def progress_of(batch_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, BatchRecord]:
    if not batch_ids:
        return {}
    found = convert.batches(Batch.objects.filter(pk__in=list(batch_ids)), convert.SUMMARY_FIELDS)
    return {b.id: b for b in found}


def _completed(batch_id: uuid.UUID) -> QuerySet[BatchJob]:
    return BatchJob.objects.filter(
        batch_id=batch_id, kind__in=MEMBER_KINDS, status=JobStatus.COMPLETED
    )


def completed_results(
    batch_id: uuid.UUID, offset: int = 0, limit: int | None = None
) -> list[tuple[uuid.UUID, int, Any]]:
    rows = _completed(batch_id).order_by("position").values_list("id", "position", "result")
    end = None if limit is None else offset + limit
    return list(rows[offset:end])


def count_completed(batch_id: uuid.UUID) -> int:
    return _completed(batch_id).count()


def job_result(batch_id: uuid.UUID, job_id: uuid.UUID) -> tuple[str, Any] | None:
    return (
        BatchJob.objects.filter(batch_id=batch_id, pk=job_id)
        .values_list("status", "result")
        .first()
    )


def _batches(query: BatchQuery) -> QuerySet[Batch]:
    conditions: dict[str, Any] = {}
    for key, lookup in (
        ("status", "status"),
        ("type", "type"),
        ("has_compensation", "has_compensation"),
        ("name_contains", "name__icontains"),
        ("created_after", "created_at__gte"),
        ("created_before", "created_at__lt"),
        ("created_by_id", "created_by_id"),
    ):
        value = getattr(query, key)
        if value is not None and value != "":
            conditions[lookup] = value
    return Batch.objects.filter(**conditions)


def list_batches(query: BatchQuery, offset: int, limit: int) -> list[BatchRecord]:
    fields = convert.SUMMARY_FIELDS if query.summary else convert.BATCH_FIELDS
    queryset = _batches(query).order_by("-created_at", "-id")[offset : offset + limit]
    return convert.batches(queryset, fields)


def count_batches(query: BatchQuery) -> int:
    return _batches(query).count()


def _jobs(query: JobQuery) -> QuerySet[BatchJob]:
    rows = BatchJob.objects.filter(batch_id=query.batch_id)
    if query.kind:
        rows = rows.filter(kind__in=(query.kind,) if isinstance(query.kind, str) else query.kind)
    if query.status:
        rows = rows.filter(status=query.status)
    if query.order == "ran":
        return rows.filter(started_at__isnull=False).order_by("started_at", "created_at", "id")
    if query.order == "started":
        return rows.order_by(F("started_at").asc(nulls_last=True), "position", "created_at", "id")
    return rows.order_by("position", "created_at", "id")


def list_jobs(query: JobQuery, offset: int, limit: int) -> list[JobRecord]:
    return convert.jobs(_jobs(query)[offset : offset + limit], convert.JOB_LIST_FIELDS)


def count_jobs(query: JobQuery) -> int:
    return _jobs(query).count()


def count_runs(batch_id: uuid.UUID) -> dict[str, int]:
    counted = (
        BatchJob.objects.filter(batch_id=batch_id)
        .values_list("kind")
        .annotate(n=Count("id"))
        .values_list("kind", "n")
    )
    return {kind: n for kind, n in counted}
