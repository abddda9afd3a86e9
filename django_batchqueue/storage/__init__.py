"""Where batch state lives. The engine reaches storage only through :func:`get_storage`.

``BATCHQUEUE["STORAGE"]`` names the backend by alias (``"sql"``, ``"redis"``; ``"memory"`` for
tests) or by the dotted path of a class implementing
:class:`~django_batchqueue.storage.base.Storage`, the way DRF resolves its import strings.
One instance per configured value is kept, so ``override_settings`` switches backends.
"""

from __future__ import annotations

from functools import cache

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .. import conf
from .base import Storage

#: Built-in backends by alias.
ALIASES = {
    "sql": "django_batchqueue.storage.sql.SQLStorage",
    "memory": "django_batchqueue.storage.memory.MemoryStorage",
    "redis": "django_batchqueue.storage.redis.RedisStorage",
}


def get_storage() -> Storage:
    """The configured storage backend (``BATCHQUEUE["STORAGE"]``)."""
    return _instance(conf.get("STORAGE"))


def backend_path(name: object) -> str:
    """The dotted path a STORAGE value names; raises ImproperlyConfigured for anything else."""
    if not isinstance(name, str) or not name:
        raise ImproperlyConfigured(
            f"BATCHQUEUE['STORAGE'] must be an alias ({', '.join(sorted(ALIASES))}) or a dotted "
            f"path to a storage class, got {name!r}"
        )
    return ALIASES.get(name, name)


@cache
def _instance(name: str) -> Storage:
    path = backend_path(name)
    try:
        backend = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"BATCHQUEUE['STORAGE'] = {name!r}: cannot import {path!r} ({exc})"
        ) from exc
    instance = backend() if isinstance(backend, type) else backend
    if not isinstance(instance, Storage):
        raise ImproperlyConfigured(
            f"BATCHQUEUE['STORAGE'] = {name!r}: {path!r} does not implement the storage interface"
        )
    return instance


__all__ = ["ALIASES", "Storage", "backend_path", "get_storage"]
