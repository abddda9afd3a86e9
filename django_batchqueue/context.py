"""Who is dispatching: set by :class:`django_batchqueue.middleware.BatchUserMiddleware`."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

_user: ContextVar[Any] = ContextVar("batchqueue_user", default=None)


def current_user() -> Any:
    """The authenticated user of the current request, if the middleware recorded one."""
    user = _user.get()
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user


def set_current_user(user: Any) -> Any:
    return _user.set(user)


def reset_current_user(token: Any) -> None:
    _user.reset(token)
