"""What reconciliation and pruning read and delete in the SQL backend."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from django.db import connections, router, transaction
from django.db.models import F, Q

from ...models import Batch, BatchJob
from ...states import (
    ACTIVE_JOB,
    FINISHED_BATCH,
    OPEN_BATCH,
    BatchType,
    CompensationStatus,
    JobKind,
    JobStatus,
)
from ..records import NESTED_UNDO, BatchRecord, JobRecord
from . import convert

#: Batches deleted per transaction by :func:`delete_batches`.
DELETE_CHUNK = 500


def stale_rows(
    status: str,
    before: datetime,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> list[JobRecord]:
    """The oldest ``limit`` rows in ``status`` since before ``before``, each with its batch's
    id and queue loaded (``queued`` rows by ``enqueued_at``, ``running`` ones by ``started_at``,
    then by id); with ``after``, only those past that key.
    """
    since = "enqueued_at" if status == JobStatus.QUEUED else "started_at"
    found_rows = BatchJob.objects.filter(status=status, **{f"{since}__lt": before})
    if after is not None:
        found_rows = found_rows.filter(
            Q(**{f"{since}__gt": after[0]}) | Q(**{since: after[0], "pk__gt": after[1]})
        )
    values = (
        # Rows no RQ job runs: nested batches' members and the runs that undo them.
        found_rows.exclude(kind=JobKind.BATCH)
        .exclude(job_path=NESTED_UNDO)
        .order_by(since, "pk")
        .values(*convert.JOB_FIELDS, "batch__queue", "batch__type", "batch__status")[:limit]
    )
    rows = []
    for found in values:
        queue, type_, status_ = (
            found.pop("batch__queue"),
            found.pop("batch__type"),
            found.pop("batch__status"),
        )
        batch = BatchRecord(id=found["batch_id"], type=type_, status=status_, queue=queue)
        rows.append(convert.job_record(found, batch))
    return rows


def open_queues() -> set[str]:
    queues = set(Batch.objects.filter(status__in=OPEN_BATCH).values_list("queue", flat=True))
    queues |= set(
        BatchJob.objects.filter(status=JobStatus.QUEUED, retry_delay__gt=0)
        .values_list("batch__queue", flat=True)
        .distinct()
    )
    return queues


def stalled_batches(quiet_since: datetime, limit: int) -> list[uuid.UUID]:
    done = F("completed_jobs") + F("failed_jobs") + F("cancelled_jobs")
    candidates = (
        Batch.objects.filter(updated_at__lt=quiet_since)
        .filter(
            Q(status__in=OPEN_BATCH, total_jobs__lte=done)
            | Q(status__in=OPEN_BATCH, type=BatchType.SEQUENTIAL)
            | Q(status__in=OPEN_BATCH, waiting_jobs__gt=0)
            | Q(compensation_status=CompensationStatus.RUNNING)
            | Q(jobs__kind=JobKind.CALLBACK, jobs__status=JobStatus.PENDING)
        )
        .distinct()
        .values_list("pk", flat=True)[:limit]
    )
    found = list(candidates)
    busy = set(
        BatchJob.objects.filter(batch_id__in=found, status__in=ACTIVE_JOB)
        .values_list("batch_id", flat=True)
        .distinct()
    )
    return [batch_id for batch_id in found if batch_id not in busy]


def batches_to_prune(
    finished_before: datetime, unfinished_created_before: datetime | None
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    finished = list(
        Batch.objects.filter(
            status__in=FINISHED_BATCH, finished_at__lt=finished_before
        ).values_list("pk", flat=True)
    )
    unfinished: list[uuid.UUID] = []
    if unfinished_created_before is not None:
        unfinished = list(
            Batch.objects.exclude(status__in=FINISHED_BATCH)
            .filter(created_at__lt=unfinished_created_before)
            .values_list("pk", flat=True)
        )
    return finished, unfinished


def count_rows(batch_ids: Sequence[uuid.UUID]) -> int:
    return BatchJob.objects.filter(batch_id__in=list(batch_ids)).count() if batch_ids else 0


def delete_batches(batch_ids: Sequence[uuid.UUID]) -> tuple[int, int]:
    """Delete batches and all their rows in one pass per chunk; returns (batches, job rows).

    Uses plain DELETE statements: the ORM's collector would load every job row to follow the
    compensation self-reference. Foreign keys are checked at commit (Django creates them
    deferrable), so the order within the transaction does not matter.
    """
    alias = router.db_for_write(Batch)
    connection = connections[alias]
    q = connection.ops.quote_name
    jobs_t, batch_t = q(BatchJob._meta.db_table), q(Batch._meta.db_table)
    pk_field = Batch._meta.pk
    assert pk_field is not None
    deleted_batches = deleted_jobs = 0
    for start in range(0, len(batch_ids), DELETE_CHUNK):
        chunk = [
            pk_field.get_db_prep_value(b, connection)
            for b in batch_ids[start : start + DELETE_CHUNK]
        ]
        marks = ", ".join(["%s"] * len(chunk))
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {jobs_t} WHERE batch_id IN ({marks})", chunk)
            deleted_jobs += cursor.rowcount
            cursor.execute(f"DELETE FROM {batch_t} WHERE id IN ({marks})", chunk)
            deleted_batches += cursor.rowcount
    return deleted_batches, deleted_jobs
