"""Views the batch admin adds under its own URLs: live progress (JSON) and the control buttons."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from ..manager import progress_for, turns_of
from ..states import BatchStatus, CompensationStatus
from ..storage import get_storage
from .actions import CONTROL_ACTIONS, run_action
from .display import is_live

if TYPE_CHECKING:
    from .batch import BatchAdmin

#: Most batch ids answered in one progress request (a changelist page shows at most a few hundred).
MAX_IDS = 500


def parse_ids(raw: str) -> list[uuid.UUID]:
    """The valid UUIDs of a comma-separated list (malformed ones are skipped), at most MAX_IDS."""
    ids: list[uuid.UUID] = []
    for part in raw.split(","):
        try:
            ids.append(uuid.UUID(part.strip()))
        except ValueError:
            continue
        if len(ids) >= MAX_IDS:
            break
    return ids


def progress_view(model_admin: BatchAdmin) -> Callable[[HttpRequest], HttpResponse]:
    """``GET …/batch/progress/?ids=a,b`` → ``{"batches": {id: progress}}`` in one query."""

    @never_cache
    @require_GET
    def view(request: HttpRequest) -> HttpResponse:
        if not model_admin.has_view_permission(request):
            raise PermissionDenied
        ids = parse_ids(request.GET.get("ids", ""))
        batches = get_storage().progress_of(ids).values()
        return JsonResponse({"batches": {str(b.pk): progress_payload(b) for b in batches}})

    return view


def progress_payload(batch: Any) -> dict[str, Any]:
    """The batch's progress (as ``get_progress`` gives it) and what the live script needs to
    redraw its badge: display labels, and whether to keep polling."""
    comp = batch.compensation_status
    return {
        **progress_for(batch),
        **turns_of(batch),
        "status_display": BatchStatus(batch.status).label,
        "compensation_display": CompensationStatus(comp).label if comp else None,
        "live": is_live(batch.status, comp),
    }


def control_view(model_admin: BatchAdmin) -> Callable[..., HttpResponse]:
    """``POST …/batch/<id>/control/<action>/``: the batch page's buttons (CSRF-protected by
    the admin site), then back to the batch page with a message."""

    @require_POST
    def view(request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        if action not in CONTROL_ACTIONS:
            raise Http404("no such action")
        if not model_admin.has_control_permission(request):
            raise PermissionDenied
        batch = get_storage().get_batch(_uuid_or_404(object_id))
        if batch is None:
            raise Http404("no such batch")
        function, _label = CONTROL_ACTIONS[action]
        run_action(request, [batch], function, model_admin)
        return HttpResponseRedirect(
            reverse(
                f"{model_admin.admin_site.name}:django_batchqueue_batch_change",
                args=[batch.pk],
            )
        )

    return view


def _uuid_or_404(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise Http404("not a batch id") from None
