"""The Batch admin: a read-only monitor with live progress and cancel / compensate / retry.

The page is Django's view-only change form (nobody edits a batch by hand: the engine owns every
status field). Controlling a batch needs the ``change_batch`` permission and goes through the
same functions as ``BatchManager.cancel()`` and ``retry_failed()``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_permission_codename
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..execution import control
from ..models import Batch
from ..states import BatchStatus
from ..storage import get_storage
from . import actions, display, storage_pages
from .detail import batch_page_context
from .filters import BatchTypeFilter, CompensationFilter, LevelFilter
from .views import control_view, progress_view

#: How often the pages poll for progress, in milliseconds.
POLL_INTERVAL_MS = 2500


class LiveProgressMedia:
    css = {"all": ("django_batchqueue/admin.css",)}
    js = ("django_batchqueue/admin.js",)


class BatchAdmin(admin.ModelAdmin):
    """Batches: what runs, how far along, what failed and why, what was compensated."""

    Media = LiveProgressMedia
    change_list_template = "admin/django_batchqueue/batch/change_list.html"
    change_form_template = "admin/django_batchqueue/batch/change_form.html"

    list_display = (
        "label",
        "type",
        "status_badge",
        "progress",
        "jobs_done",
        "compensation",
        "queue",
        "created",
        "duration",
    )
    list_display_links = ("label",)
    list_filter = (
        LevelFilter,
        "status",
        BatchTypeFilter,
        CompensationFilter,
        "queue",
        "created_at",
    )
    search_fields = ("id", "name")
    date_hierarchy = "created_at"
    list_per_page = 50
    actions = [
        actions.cancel_selected,
        actions.cancel_and_compensate_selected,
        actions.retry_failed_selected,
    ]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "id",
                    "name",
                    "type",
                    "parent_link",
                    "status_badge",
                    "progress",
                    "job_counts",
                    "compensation",
                    "error",
                    "queue",
                    "allow_failures",
                    "created_by",
                    ("created_at", "started_at", "finished_at"),
                    "duration",
                )
            },
        ),
        (_("Context"), {"fields": ("context_json",)}),
        (_("Options and callbacks"), {"fields": ("options_json", "callbacks_json")}),
    )
    readonly_fields = (
        "parent_link",
        "status_badge",
        "progress",
        "job_counts",
        "compensation",
        "duration",
        "context_json",
        "options_json",
        "callbacks_json",
    )

    # -- permissions: read-only, control needs change_batch ---------------------------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # view-only: the engine owns every field

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting a running batch under its workers is never what an operator wants here;
        # finished batches are removed with ``manage.py batchqueue_prune``.
        return False

    def has_control_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Cancel, compensate and retry: the model's ``change`` permission."""
        codename = get_permission_codename("change", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")

    # -- columns ----------------------------------------------------------------------------

    @admin.display(description=_("Batch"), ordering="name")
    def label(self, batch: Batch) -> str:
        if batch.name:
            return format_html(
                '<span class="bq-name">{}</span><br><code class="bq-id">{}</code>',
                batch.name,
                str(batch.pk)[:8],
            )
        return format_html('<code class="bq-id">{}</code>', batch.pk)

    @admin.display(description=_("Status"), ordering="status")
    def status_badge(self, batch: Batch) -> str:
        return display.badge(batch.status, batch=batch)

    @admin.display(description=_("Progress"))
    def progress(self, batch: Batch) -> str:
        # A tree's bar shows its leaf jobs (two more reads for a batch with nested batches).
        leaf = get_storage().leaf_counts(batch) if batch.has_children else None
        return display.progress_bar(batch, leaf)

    @admin.display(description=_("Part of"))
    def parent_link(self, batch: Batch) -> str:
        if batch.parent_id is None:
            return "—"
        parent = get_storage().user_batch(batch.parent_id)
        url = reverse(
            f"{self.admin_site.name}:django_batchqueue_batch_change", args=[batch.parent_id]
        )
        root = ""
        if batch.root_id and batch.root_id != batch.parent_id:
            root_url = reverse(
                f"{self.admin_site.name}:django_batchqueue_batch_change", args=[batch.root_id]
            )
            root = format_html(
                gettext(' &nbsp;<span class="bq-muted">in tree <a href="{}">{}</a></span>'),
                root_url,
                str(batch.root_id)[:8],
            )
        return format_html('<a href="{}">{}</a>{}', url, parent or batch.parent_id, root)

    @admin.display(description=_("Done / failed / total"))
    def jobs_done(self, batch: Batch) -> str:
        return display.counts(batch)

    @admin.display(description=_("Jobs"))
    def job_counts(self, batch: Batch) -> str:
        return format_html(
            gettext(
                "{} &nbsp;<span class='bq-muted' data-bq-batch='{}' data-bq-field='more-counts'>"
                "(completed / failed / total; <span class='bq-n-cancelled'>{}</span> cancelled, "
                "<span class='bq-n-pending'>{}</span> not finished: "
                "<span class='bq-n-active'>{}</span> queued or running, "
                "<span class='bq-n-waiting'>{}</span> waiting for their turn)</span>{}"
            ),
            display.counts(batch),
            batch.pk,
            batch.cancelled_jobs,
            batch.pending_jobs,
            batch.active_jobs,
            batch.waiting_jobs,
            format_html(
                gettext(" &nbsp;<span class='bq-muted'>at most {} at once</span>"),
                batch.max_concurrency,
            )
            if batch.max_concurrency
            else "",
        )

    @admin.display(description=_("Compensation"), ordering="compensation_status")
    def compensation(self, batch: Batch) -> str:
        return display.badge(batch.compensation_status, batch=batch, field="compensation")

    @admin.display(description=_("Created"), ordering="created_at")
    def created(self, batch: Batch) -> str:
        return display.admin_datetime(batch.created_at)

    @admin.display(description=_("Duration"))
    def duration(self, batch: Batch) -> str:
        return display.human_duration(batch.duration)

    @admin.display(description=_("Context"))
    def context_json(self, batch: Batch) -> str:
        return display.pretty_json(batch.context)

    @admin.display(description=_("Options"))
    def options_json(self, batch: Batch) -> str:
        return display.pretty_json(batch.options)

    @admin.display(description=_("Callbacks"))
    def callbacks_json(self, batch: Batch) -> str:
        return display.pretty_json(batch.callbacks)

    # -- URLs and pages ---------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("progress/", wrap(progress_view(self)), name=f"{prefix}_progress"),
            path(
                "<str:object_id>/control/<str:action>/",
                wrap(control_view(self)),
                name=f"{prefix}_control",
            ),
            *super().get_urls(),
        ]

    def live_config(self) -> dict[str, Any]:
        """What the live-progress script reads from the page (as a json_script)."""
        return {
            "progressUrl": reverse(
                f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_progress"
            ),
            "intervalMs": POLL_INTERVAL_MS,
        }

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not storage_pages.models_hold_batches():
            return storage_pages.changelist(self, request)
        extra_context = {**(extra_context or {}), "bq_config": self.live_config()}
        return super().changelist_view(request, extra_context)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if not storage_pages.models_hold_batches():
            return storage_pages.change_page(self, request, object_id)
        return super().change_view(request, object_id, form_url, extra_context)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Batch | None = None,
    ) -> HttpResponse:
        if obj is not None:
            context.update(batch_page_context(obj, self.admin_site.name))
            context["bq_config"] = self.live_config()
            context["bq_buttons"] = self.control_buttons(request, obj)
            context["bq_live"] = display.is_live(obj.status, obj.compensation_status)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def control_buttons(self, request: HttpRequest, batch: Batch) -> list[dict[str, Any]]:
        """The control buttons that apply to the batch as it is now (none without permission)."""
        if not self.has_control_permission(request, batch):
            return []
        names: list[str] = []
        if batch.status in (BatchStatus.PENDING, BatchStatus.RUNNING):
            names.append("cancel")
            if batch.has_compensation:
                names.append("cancel_and_compensate")
        if control.can_retry(batch):
            names.append("retry_failed")
        confirm = {
            "cancel": _("Cancel this batch? Jobs not yet started will never run."),
            "cancel_and_compensate": _("Cancel this batch and undo its completed jobs?"),
        }
        return [
            {
                "name": name,
                "label": actions.CONTROL_ACTIONS[name][1],
                "url": reverse(
                    f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_control",
                    args=[batch.pk, name],
                ),
                "confirm": confirm.get(name, ""),
                # Cancelling applies only while the batch runs: the page drops the button after.
                "while_live": name != "retry_failed",
            }
            for name in names
        ]
