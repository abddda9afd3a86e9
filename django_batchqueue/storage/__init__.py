"""Where batch state lives. The engine reaches storage only through :func:`get_storage`."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from .. import conf
from .sql import SQLStorage
from .sql import storage as _sql_storage


def get_storage() -> SQLStorage:
    """The configured storage backend (``BATCHQUEUE["STORAGE"]``)."""
    name = conf.get("STORAGE")
    if name == "sql":
        return _sql_storage
    raise ImproperlyConfigured(
        f"BATCHQUEUE['STORAGE'] = {name!r} is not available; this release supports 'sql'"
    )
