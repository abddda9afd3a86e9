"""The BatchJob admin: every job, compensation and callback run, read-only and searchable."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ..models import BatchJob
from . import display
from .batch import LiveProgressMedia


class BatchJobAdmin(admin.ModelAdmin):
    """Jobs across batches: filter by status and kind, search by id, class, batch or error."""

    Media = LiveProgressMedia

    list_display = (
        "job",
        "batch_link",
        "kind",
        "position",
        "status_badge",
        "attempts",
        "error_preview",
        "started_at",
        "duration",
    )
    list_filter = ("status", "kind", "event")
    search_fields = ("=id", "job_path", "=batch__id", "batch__name", "error")
    list_select_related = ("batch",)
    list_per_page = 100
    # Read-only rows: show every field, with the JSON ones pretty-printed.
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "id",
                    "batch_link",
                    "kind",
                    "event",
                    "position",
                    "job_path",
                    "compensation_path",
                    "compensates",
                    "status_badge",
                    ("attempts", "max_retries", "retry_delay", "timeout"),
                    "error",
                    "traceback_text",
                    "worker_name",
                    "rq_job_id",
                    ("created_at", "enqueued_at", "started_at", "finished_at"),
                    "duration",
                )
            },
        ),
        (_("Data"), {"fields": ("args_json", "meta_json", "result_json")}),
    )
    readonly_fields = (
        "batch_link",
        "status_badge",
        "duration",
        "traceback_text",
        "args_json",
        "meta_json",
        "result_json",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        # The batch page links here filtered by its batch.
        return lookup in ("batch__id__exact", "batch__exact") or super().lookup_allowed(
            lookup, value, request
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[BatchJob]:
        queryset = super().get_queryset(request)
        match = request.resolver_match
        if match is not None and (match.url_name or "").endswith("_changelist"):
            # The list shows none of the big columns; the job page shows them all.
            queryset = queryset.defer("traceback", "args", "meta", "result")
        return queryset

    @admin.display(description=_("Job"), ordering="job_path")
    def job(self, job: BatchJob) -> str:
        return format_html(
            '<span title="{}">{}</span><br><code class="bq-id">{}</code>',
            job.job_path,
            display.short_path(job.job_path),
            str(job.pk)[:8],
        )

    @admin.display(description=_("Batch"), ordering="batch__created_at")
    def batch_link(self, job: BatchJob) -> str:
        url = reverse(f"{self.admin_site.name}:django_batchqueue_batch_change", args=[job.batch_id])
        return format_html('<a href="{}">{}</a>', url, job.batch)

    @admin.display(description=_("Status"), ordering="status")
    def status_badge(self, job: BatchJob) -> str:
        return display.badge(job.status)

    @admin.display(description=_("Last error"))
    def error_preview(self, job: BatchJob) -> str:
        return format_html('<span title="{}">{}</span>', job.error, display.preview(job.error))

    @admin.display(description=_("Duration"))
    def duration(self, job: BatchJob) -> str:
        return display.human_duration(job.duration)

    @admin.display(description=_("Traceback"))
    def traceback_text(self, job: BatchJob) -> str:
        return format_html('<pre class="bq-json">{}</pre>', job.traceback) if job.traceback else ""

    @admin.display(description=_("Args"))
    def args_json(self, job: BatchJob) -> str:
        return display.pretty_json(job.args)

    @admin.display(description=_("Framework data (meta)"))
    def meta_json(self, job: BatchJob) -> str:
        return display.pretty_json(job.meta)

    @admin.display(description=_("Result"))
    def result_json(self, job: BatchJob) -> str:
        return display.pretty_json(job.result)
