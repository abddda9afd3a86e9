"""Optional middleware so batches dispatched during a request record ``created_by``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .context import reset_current_user, set_current_user


class BatchUserMiddleware:
    """Put ``request.user`` where the batch builder finds it (place after AuthenticationMiddleware).

    Resolved lazily: the user is only looked up if a batch is dispatched during the request.
    """

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        token = set_current_user(getattr(request, "user", None))
        try:
            return self.get_response(request)
        finally:
            reset_current_user(token)
