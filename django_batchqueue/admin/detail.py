"""What the batch page shows below the batch's fields: its jobs, compensations, callbacks and,
for chains, the order things ran in.

Each table is capped at :data:`ROWS_SHOWN` rows read with one query, so a 10,000-job batch page
costs the same few queries as a 3-job one; the rest is a link to the job changelist filtered by
the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count, F
from django.urls import reverse

from ..models import Batch, BatchJob
from ..states import BatchType, JobKind
from .display import badge, human_duration, preview, short_path

#: Rows per table on the batch page.
ROWS_SHOWN = 200

# Columns the tables never show; big ones stay in the database.
_DEFERRED = ("traceback", "args", "meta", "compensation_path", "rq_job_id")


@dataclass(frozen=True)
class JobRow:
    """One row of a jobs table, ready for the template."""

    id: str
    url: str
    kind: str
    kind_display: str
    position: int
    class_name: str
    job_path: str
    event: str
    status_badge: str
    attempts: int
    max_retries: int
    error: str
    error_preview: str
    result_preview: str
    started_at: datetime | None
    finished_at: datetime | None
    duration: str


@dataclass(frozen=True)
class JobTable:
    """A capped table: the rows shown, how many exist, and where to see them all."""

    rows: list[JobRow]
    total: int
    all_url: str

    @property
    def capped(self) -> bool:
        return self.total > len(self.rows)


def batch_page_context(batch: Batch, admin_site_name: str) -> dict[str, Any]:
    """Context for the batch page's tables (a handful of queries, whatever the batch size)."""
    jobs = BatchJob.objects.filter(batch=batch).defer(*_DEFERRED)
    by_kind = dict(
        BatchJob.objects.filter(batch=batch)
        .exclude(kind=JobKind.JOB)
        .values_list("kind")
        .annotate(n=Count("id"))
        .values_list("kind", "n")
    )
    changelist = reverse(f"{admin_site_name}:django_batchqueue_batchjob_changelist")

    def table(kind: str, total: int, order: tuple[Any, ...]) -> JobTable:
        rows = [] if not total else list(jobs.filter(kind=kind).order_by(*order)[:ROWS_SHOWN])
        query = urlencode({"batch__id__exact": batch.pk, "kind__exact": kind})
        return JobTable(_rows(rows, admin_site_name), total, f"{changelist}?{query}")

    started_first = (F("started_at").asc(nulls_last=True), "position", "created_at")
    context: dict[str, Any] = {
        "bq_jobs": table(JobKind.JOB, batch.total_jobs, ("position",)),
        "bq_compensations": table(
            JobKind.COMPENSATION, by_kind.get(JobKind.COMPENSATION, 0), started_first
        ),
        "bq_callbacks": table(JobKind.CALLBACK, by_kind.get(JobKind.CALLBACK, 0), started_first),
        "bq_timeline": None,
    }
    if batch.type == BatchType.SEQUENTIAL:
        ran = jobs.filter(started_at__isnull=False).order_by("started_at", "created_at")
        rows = list(ran[:ROWS_SHOWN])
        total = len(rows) if len(rows) < ROWS_SHOWN else ran.count()
        everything = f"{changelist}?{urlencode({'batch__id__exact': batch.pk})}"
        context["bq_timeline"] = JobTable(_rows(rows, admin_site_name), total, everything)
    return context


def _rows(jobs: list[BatchJob], admin_site_name: str) -> list[JobRow]:
    return [
        JobRow(
            id=str(job.pk),
            url=reverse(f"{admin_site_name}:django_batchqueue_batchjob_change", args=[job.pk]),
            kind=job.kind,
            kind_display=job.get_kind_display(),
            position=job.position,
            class_name=short_path(job.job_path),
            job_path=job.job_path,
            event=job.event,
            status_badge=badge(job.status),
            attempts=job.attempts,
            max_retries=job.max_retries,
            error=job.error,
            error_preview=preview(job.error),
            result_preview=preview(job.result),
            started_at=job.started_at,
            finished_at=job.finished_at,
            duration=human_duration(job.duration),
        )
        for job in jobs
    ]
