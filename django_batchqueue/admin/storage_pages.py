"""The batch list and batch page when batches are not in the database (``STORAGE = "redis"``).

Django's changelist and change form read a queryset; with Redis storage the ``Batch`` table is
empty, so :class:`~django_batchqueue.admin.batch.BatchAdmin` serves these two pages instead,
read through storage: the same columns, fields, job tables, control buttons, actions and live
progress, with filters by status and type, a name search and pages of ``list_per_page``.
Actions go through the same :func:`~django_batchqueue.admin.actions.run_action` as on SQL
storage, so the admin log (``LogEntry``, in the database) still says who did what.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.admin.utils import display_for_value
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..models import Batch
from ..states import BatchStatus, BatchType
from ..storage import get_storage
from ..storage.base import BatchQuery
from . import actions, display
from .detail import batch_page_context

if TYPE_CHECKING:
    from .batch import BatchAdmin

LIST_TEMPLATE = "admin/django_batchqueue/batch/storage_change_list.html"
PAGE_TEMPLATE = "admin/django_batchqueue/batch/storage_change_form.html"

#: Changelist action name -> control action name.
ACTIONS = {
    "cancel_selected": "cancel",
    "cancel_and_compensate_selected": "cancel_and_compensate",
    "retry_failed_selected": "retry_failed",
}


def models_hold_batches() -> bool:
    """Whether batches live in the ``Batch`` table (SQL storage), where Django's own
    changelist and change form serve them."""
    from ..storage.sql.backend import SQLStorage

    return isinstance(get_storage(), SQLStorage)


@dataclass(frozen=True)
class Choice:
    label: str
    url: str
    selected: bool


@dataclass(frozen=True)
class Filter:
    title: str
    choices: list[Choice]


def changelist(model_admin: BatchAdmin, request: HttpRequest) -> HttpResponse:
    """``GET``: one page of batches, newest first; ``POST``: a changelist action."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    if request.method == "POST":
        return _run_action(model_admin, request)
    params = request.GET
    status = _choice(params.get("status"), BatchStatus.values)
    type_ = _choice(params.get("type"), BatchType.values)
    search = params.get("q", "").strip()
    query = BatchQuery(status=status, type=type_, name_contains=search or None)
    storage = get_storage()
    total = storage.count_batches(query)
    per_page = model_admin.list_per_page
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, _int(params.get("p"), 1)), pages)
    records = storage.list_batches(query, (page - 1) * per_page, per_page)
    site = model_admin.admin_site.name
    can_control = model_admin.has_control_permission(request)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": gettext("Select batch to view"),
        "media": model_admin.media,
        "bq_config": model_admin.live_config(),
        "bq_headers": [_header(model_admin, name) for name in model_admin.list_display],
        "bq_rows": [
            {
                "id": str(b.pk),
                "url": reverse(f"{site}:django_batchqueue_batch_change", args=[b.pk]),
                "cells": [_cell(model_admin, name, b) for name in model_admin.list_display],
            }
            for b in records
        ],
        "bq_total": total,
        "bq_search": search,
        "bq_kept": [(k, v) for k, v in (("status", status), ("type", type_)) if v],
        "bq_filters": [
            _filter(params, "status", _("status"), BatchStatus.choices),
            _filter(params, "type", _("type"), BatchType.choices),
        ],
        "bq_actions": [(name, _action_label(model_admin, name)) for name in ACTIONS if can_control],
        "bq_page": page,
        "bq_pages": pages,
        "bq_previous": _with(params, p=page - 1) if page > 1 else "",
        "bq_next": _with(params, p=page + 1) if page < pages else "",
    }
    return TemplateResponse(request, LIST_TEMPLATE, context)


def change_page(model_admin: BatchAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """The batch page: its fields, tables and control buttons, read through storage."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    try:
        batch_id = uuid.UUID(object_id)
    except ValueError:
        raise Http404("not a batch id") from None
    batch = get_storage().user_batch(batch_id)
    if batch is None:
        raise Http404(gettext("No batch with id %s (finished batches expire).") % batch_id)
    site = model_admin.admin_site.name
    fieldsets = []
    for name, options in model_admin.fieldsets or ():
        rows = []
        for entry in options["fields"]:
            for field in entry if isinstance(entry, (tuple, list)) else (entry,):
                rows.append(
                    {
                        "name": field,
                        "label": _header(model_admin, field),
                        "value": _value(model_admin, field, batch),
                    }
                )
        fieldsets.append({"name": name, "rows": rows})
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": str(batch.name or batch.pk),
        "media": model_admin.media,
        "changelist_url": reverse(f"{site}:django_batchqueue_batch_changelist"),
        "bq_fieldsets": fieldsets,
        "bq_config": model_admin.live_config(),
        "bq_buttons": model_admin.control_buttons(request, batch),
        "bq_live": display.is_live(batch.status, batch.compensation_status),
        **batch_page_context(batch, site, job_pages=False),
    }
    return TemplateResponse(request, PAGE_TEMPLATE, context)


# -- actions ---------------------------------------------------------------------------------


def _run_action(model_admin: BatchAdmin, request: HttpRequest) -> HttpResponse:
    back = HttpResponseRedirect(request.get_full_path())
    name = request.POST.get("action", "")
    if name not in ACTIONS:
        messages.warning(request, gettext("No action selected."))
        return back
    if not model_admin.has_control_permission(request):
        raise PermissionDenied
    ids = []
    for raw in request.POST.getlist("_selected_action"):
        try:
            ids.append(uuid.UUID(raw))
        except ValueError:
            continue
    storage = get_storage()
    batches = [b for b in (storage.get_batch(i) for i in ids) if b is not None]
    if not ids:
        messages.warning(
            request,
            gettext(
                "Items must be selected in order to perform actions on them. No items have "
                "been changed."
            ),
        )
        return back
    function, _label = actions.CONTROL_ACTIONS[ACTIONS[name]]
    gone = len(ids) - len(batches)
    actions.run_action(request, sorted(batches, key=lambda b: b.created_at), function, model_admin)
    if gone:
        messages.error(request, gettext("%d selected batches no longer exist.") % gone)
    return back


def _action_label(model_admin: BatchAdmin, name: str) -> str:
    for action in model_admin.actions or ():
        if callable(action) and action.__name__ == name:
            return str(getattr(action, "short_description", name))
    return name


# -- cells -----------------------------------------------------------------------------------


def _header(model_admin: BatchAdmin, name: str) -> str:
    method = getattr(model_admin, name, None)
    if callable(method):
        return str(getattr(method, "short_description", name))
    try:
        return str(getattr(Batch._meta.get_field(name), "verbose_name", name))
    except FieldDoesNotExist:
        return name


def _cell(model_admin: BatchAdmin, name: str, batch: Any) -> Any:
    method = getattr(model_admin, name, None)
    if callable(method):
        return method(batch)
    if name == "type":
        return BatchType(batch.type).label
    return display_for_value(getattr(batch, name), "—")


def _value(model_admin: BatchAdmin, name: str, batch: Any) -> Any:
    if name == "created_by":
        user_id = batch.created_by_id
        if user_id is None:
            return "—"
        user = get_user_model()._default_manager.filter(pk=user_id).first()
        return str(user) if user is not None else str(user_id)
    if name == "allow_failures":
        return display_for_value(batch.allow_failures, "—", boolean=True)
    if name in ("created_at", "started_at", "finished_at"):
        value = getattr(batch, name)
        return display.admin_datetime(value) if value else "—"
    return _cell(model_admin, name, batch)


# -- query strings ---------------------------------------------------------------------------


def _choice(value: str | None, allowed: list[str]) -> str | None:
    return value if value in allowed else None


def _int(value: str | None, default: int) -> int:
    try:
        return int(value or default)
    except ValueError:
        return default


def _with(params: QueryDict, **changes: Any) -> str:
    kept = {k: v for k, v in params.items() if k not in changes}
    kept.update({k: str(v) for k, v in changes.items() if v not in (None, "")})
    return "?" + urlencode(kept)


def _filter(params: QueryDict, key: str, title: Any, choices: list[tuple[str, Any]]) -> Filter:
    current = params.get(key)
    items = [Choice(gettext("All"), _with(params, **{key: None, "p": None}), current is None)]
    items += [
        Choice(str(label), _with(params, **{key: value, "p": None}), current == value)
        for value, label in choices
    ]
    return Filter(str(title), items)
