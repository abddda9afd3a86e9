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

from django.urls import reverse
from django.utils.translation import gettext

from ..states import MEMBER_KINDS, BatchType, JobKind
from ..storage import get_storage
from ..storage.base import JobQuery
from ..storage.records import JobRecord
from .display import badge, counts, human_duration, preview, progress_bar, short_path

#: Rows per table on the batch page.
ROWS_SHOWN = 200


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


@dataclass(frozen=True)
class ChildRow:
    """One nested batch on its parent's page (its badge, bar and counts update live)."""

    id: str
    url: str
    position: int
    label: str
    type_display: str
    status_badge: str
    progress_bar: str
    counts: str


def batch_page_context(
    batch: Any, admin_site_name: str, *, job_pages: bool = True
) -> dict[str, Any]:
    """Context for the batch page's tables (a handful of reads, whatever the size of the
    batch or of its tree). Without ``job_pages`` (jobs not in the database) rows link only to
    nested batches, and no table links to the job list."""
    storage = get_storage()
    by_kind = storage.count_runs(batch.pk)
    changelist = reverse(f"{admin_site_name}:django_batchqueue_batchjob_changelist")
    children = storage.children(batch.pk) if batch.has_children else []
    child_urls = {
        child.member_id: reverse(
            f"{admin_site_name}:django_batchqueue_batch_change", args=[child.pk]
        )
        for _, child in children
    }

    def table(kind: str | tuple[str, ...] | None, order: str, total: int | None = None) -> JobTable:
        """Up to ROWS_SHOWN rows; ``total`` when known (counted only when it is not)."""
        query = JobQuery(batch_id=batch.pk, kind=kind, order=order)
        rows = storage.list_jobs(query, 0, ROWS_SHOWN) if total != 0 else []
        if total is None:
            total = len(rows) if len(rows) < ROWS_SHOWN else storage.count_jobs(query)
        one_kind = {"kind__exact": kind} if isinstance(kind, str) else {}
        params = {"batch__id__exact": batch.pk, **one_kind}
        return JobTable(
            _rows(rows, admin_site_name, child_urls, job_pages),
            total,
            f"{changelist}?{urlencode(params)}" if job_pages else "",
        )

    members = by_kind.get(JobKind.JOB, 0) + by_kind.get(JobKind.BATCH, 0)
    context: dict[str, Any] = {
        "bq_jobs": table(MEMBER_KINDS if children else JobKind.JOB, "position", members),
        "bq_children": [
            ChildRow(
                id=str(child.pk),
                url=child_urls[child.member_id],
                position=position,
                label=child.name or str(child.pk),
                type_display=str(BatchType(child.type).label),
                status_badge=badge(child.status, batch=child),
                progress_bar=progress_bar(child),
                counts=counts(child),
            )
            for position, child in children[:ROWS_SHOWN]
        ],
        "bq_compensations": table(
            JobKind.COMPENSATION, "started", by_kind.get(JobKind.COMPENSATION, 0)
        ),
        "bq_callbacks": table(JobKind.CALLBACK, "started", by_kind.get(JobKind.CALLBACK, 0)),
        "bq_timeline": table(None, "ran") if batch.type == BatchType.SEQUENTIAL else None,
    }
    return context


def _rows(
    jobs: list[JobRecord],
    admin_site_name: str,
    child_urls: dict[Any, str] | None = None,
    job_pages: bool = True,
) -> list[JobRow]:
    """Table rows; a nested batch's member row links to the nested batch's page, any other
    row to its job's page (when jobs have pages)."""
    child_urls = child_urls or {}
    return [
        JobRow(
            id=str(job.pk),
            url=child_urls.get(job.pk)
            or (
                reverse(f"{admin_site_name}:django_batchqueue_batchjob_change", args=[job.pk])
                if job_pages
                else ""
            ),
            kind=job.kind,
            kind_display=str(JobKind(job.kind).label),
            position=job.position,
            class_name=gettext("nested batch")
            if job.kind == JobKind.BATCH
            else short_path(job.job_path),
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
