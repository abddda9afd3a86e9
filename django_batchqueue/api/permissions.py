"""Who may use the API, and which batches they see.

``BATCHQUEUE["API_PERMISSION_CLASSES"]`` (staff only by default) admits users who see every
batch. With ``BATCHQUEUE["API_USERS_SEE_OWN_BATCHES"]``, any other authenticated user is admitted
too, but sees only the batches they created (``Batch.created_by``): the view scopes its queryset,
so someone else's batch is a 404, not a 403.
"""

from __future__ import annotations

from typing import Any

from django.utils.module_loading import import_string
from rest_framework.permissions import BasePermission

from .. import conf

#: The model permission that cancel and retry require.
CONTROL_PERMISSION = "django_batchqueue.change_batch"


def configured_permissions() -> list[BasePermission]:
    """Instances of ``API_PERMISSION_CLASSES`` (dotted paths or classes)."""
    return [
        (import_string(entry) if isinstance(entry, str) else entry)()
        for entry in conf.get("API_PERMISSION_CLASSES")
    ]


def sees_all_batches(request: Any, view: Any) -> bool:
    """Whether the request passes ``API_PERMISSION_CLASSES`` (cached on the request)."""
    cached = getattr(request, "_batchqueue_sees_all", None)
    if cached is None:
        cached = all(perm.has_permission(request, view) for perm in configured_permissions())
        request._batchqueue_sees_all = cached
    return cached


def sees_own_batches(request: Any) -> bool:
    """Whether own-batches mode admits this request's user."""
    user = getattr(request, "user", None)
    return bool(
        conf.get("API_USERS_SEE_OWN_BATCHES") and user is not None and user.is_authenticated
    )


class BatchAPIAccess(BasePermission):
    """Admits users allowed by ``API_PERMISSION_CLASSES`` and, in own-batches mode, any
    authenticated user (the view then shows them only their own batches)."""

    def has_permission(self, request: Any, view: Any) -> bool:
        return sees_all_batches(request, view) or sees_own_batches(request)

    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        if sees_all_batches(request, view):
            return all(
                perm.has_object_permission(request, view, obj) for perm in configured_permissions()
            )
        # Own-batches mode: the queryset was already restricted to the user's batches.
        return sees_own_batches(request)


class CanControlBatches(BasePermission):
    """Cancel and retry need the ``django_batchqueue.change_batch`` permission."""

    message = f"Cancelling or retrying a batch needs the {CONTROL_PERMISSION!r} permission."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = getattr(request, "user", None)
        return bool(user is not None and user.has_perm(CONTROL_PERMISSION))
