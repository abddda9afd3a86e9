"""HTML fragments shared by the batch and job admins: badges, progress bars, JSON, durations.

Every fragment is built with ``format_html`` so stored values (names, errors, context) are
escaped. Elements that the live-progress script updates carry ``data-bq-batch`` (the batch id)
and ``data-bq-field`` (what they show).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timezone import template_localtime  # type: ignore[attr-defined]  # no stub

from ..states import BatchStatus, CompensationStatus, JobStatus

#: Characters of a result or error shown in a table cell before it is cut.
PREVIEW_CHARS = 120

_STATUS_LABELS = {
    **dict(BatchStatus.choices),
    **dict(JobStatus.choices),
    **dict(CompensationStatus.choices),
}


def is_live(status: str, compensation_status: str | None) -> bool:
    """Whether a batch can still change: open, or compensating after it finished."""
    return status in (BatchStatus.PENDING, BatchStatus.RUNNING) or (
        compensation_status == CompensationStatus.RUNNING
    )


def badge(status: str | None, *, batch: Any = None, field: str = "status") -> SafeString:
    """A coloured status label; with ``batch``, one the live script keeps current."""
    if not status:
        return format_html('<span class="bq-badge bq-none"{}>—</span>', _live_attrs(batch, field))
    return format_html(
        '<span class="bq-badge bq-{}"{}>{}</span>',
        status,
        _live_attrs(batch, field),
        _STATUS_LABELS.get(status, status),
    )


def progress_bar(batch: Any, leaf: dict[str, int] | None = None) -> SafeString:
    """An HTML/CSS progress bar: green for completed, red for failed, grey for cancelled.

    With ``leaf`` (a batch with nested batches: the counters over the leaf jobs of its tree)
    the bar and its percentage show those, so it moves while a nested batch runs.
    """
    shown = leaf or {
        "total_jobs": batch.total_jobs,
        "completed_jobs": batch.completed_jobs,
        "failed_jobs": batch.failed_jobs,
        "cancelled_jobs": batch.cancelled_jobs,
    }
    total = shown["total_jobs"] or 1
    if batch.is_finished:
        pct = 100
    elif not shown["total_jobs"]:
        pct = 0
    else:
        done = shown["completed_jobs"] + shown["failed_jobs"] + shown["cancelled_jobs"]
        pct = round(100 * done / shown["total_jobs"])
    return format_html(
        '<div class="bq-progress" role="progressbar" aria-valuemin="0" aria-valuemax="100" '
        'aria-valuenow="{pct}" data-bq-batch="{id}" data-bq-field="progress" '
        'data-bq-live="{live}">'
        '<div class="bq-bar">'
        '<span class="bq-seg bq-seg-completed" style="width: {c}%"></span>'
        '<span class="bq-seg bq-seg-failed" style="width: {f}%"></span>'
        '<span class="bq-seg bq-seg-cancelled" style="width: {x}%"></span>'
        "</div>"
        '<span class="bq-pct">{pct}%</span></div>',
        pct=pct,
        id=batch.pk,
        live="1" if is_live(batch.status, batch.compensation_status) else "0",
        c=_share(shown["completed_jobs"], total),
        f=_share(shown["failed_jobs"], total),
        x=_share(shown["cancelled_jobs"], total),
    )


def counts(batch: Any) -> SafeString:
    """``completed / failed / total``, live-updated."""
    return format_html(
        '<span class="bq-counts" data-bq-batch="{}" data-bq-field="counts">'
        '<span class="bq-n-completed">{}</span> / <span class="bq-n-failed">{}</span> / '
        '<span class="bq-n-total">{}</span></span>',
        batch.pk,
        batch.completed_jobs,
        batch.failed_jobs,
        batch.total_jobs,
    )


def pretty_json(value: Any) -> SafeString:
    """Indented, key-sorted JSON in a ``<pre>``, escaped."""
    text = json.dumps(value, indent=2, sort_keys=True, cls=DjangoJSONEncoder, ensure_ascii=False)
    return format_html('<pre class="bq-json">{}</pre>', text)


def preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """A one-line JSON (or text) preview cut at ``limit`` characters."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, cls=DjangoJSONEncoder)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def human_duration(delta: timedelta | None) -> str:
    """``0.42 s``, ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``; empty when unknown."""
    if delta is None:
        return ""
    seconds = max(delta.total_seconds(), 0.0)
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def admin_datetime(value: datetime | None) -> SafeString:
    """A timestamp as Django's admin shows its own date fields: ``DATETIME_FORMAT``, in the
    current time zone when ``USE_TZ`` is on (a naive value, with ``USE_TZ = False``, as is)."""
    if value is None:
        return SafeString("—")
    local = template_localtime(value)
    return format_html(
        '<time datetime="{}" class="bq-time">{}</time>',
        local.isoformat(),
        date_format(local, "DATETIME_FORMAT"),
    )


def short_path(path: str) -> str:
    """The class or function name of a dotted import path."""
    return path.rsplit(".", 1)[-1]


def _share(n: int, total: int) -> str:
    return f"{100 * n / total:.2f}"


def _live_attrs(batch: Any, field: str) -> SafeString:
    if batch is None:
        return SafeString("")
    return format_html(' data-bq-batch="{}" data-bq-field="{}"', batch.pk, field)
