"""Where Redis storage keeps its keys, and how it talks to that Redis.

Every key starts with ``batchqueue:{bq}:``: one hash tag for the whole namespace, so each
script's keys are in one slot and a Redis Cluster serves it (from one node). The connection is
``BATCHQUEUE["REDIS_STORAGE_URL"]``, or else the default queue's Redis; redis-py's pool gives a
forked work horse its own connections.
"""

from __future__ import annotations

import os
from datetime import datetime
from functools import cache
from typing import Any

from django.utils import timezone

from ... import conf
from .codec import now_args
from .lua import HEADER, RELEASE_LOCK, TRANSITIONS

PREFIX = "batchqueue:{bq}:"


@cache
def _client(url: str, pid: int) -> Any:
    import redis

    return redis.Redis.from_url(url, decode_responses=True)


@cache
def _client_for_queue(queue: str, settings_key: str, pid: int) -> Any:
    """A text client on the Redis of ``queue`` (``settings_key``: its settings, so a changed
    setting gets a new client)."""
    import django_rq
    import redis

    queue_conn = django_rq.get_connection(queue)
    kwargs = dict(queue_conn.connection_pool.connection_kwargs)
    kwargs["decode_responses"] = True
    pool_class = type(queue_conn.connection_pool)
    connection_class = queue_conn.connection_pool.connection_class
    return redis.Redis(connection_pool=pool_class(connection_class=connection_class, **kwargs))


class Namespace:
    """The client, the keys and the registered scripts of one storage instance."""

    def __init__(self) -> None:
        self._scripts: dict[str, Any] = {}
        self._scripts_for: Any = None

    @property
    def client(self) -> Any:
        url = conf.get("REDIS_STORAGE_URL")
        queue = conf.get("DEFAULT_QUEUE")
        if url is None:  # keyed by the queue's settings too: tests repoint queues
            from django.conf import settings

            url_key = repr(settings.RQ_QUEUES.get(queue))
            return _client_for_queue(queue, url_key, os.getpid())
        return _client(url, os.getpid())

    def _registered(self) -> dict[str, Any]:
        client = self.client
        if self._scripts_for is not client:
            self._scripts = {
                name: client.register_script(HEADER + body) for name, body in TRANSITIONS.items()
            }
            self._scripts["release_lock"] = client.register_script(RELEASE_LOCK)
            self._scripts_for = client
        return self._scripts

    def run(self, name: str, *args: Any, now: datetime | None = None, pipe: Any = None) -> Any:
        """Run transition ``name`` with ``args`` (after the prefix and the time)."""
        script = self._registered()[name]
        argv = [PREFIX, *now_args(now or timezone.now()), *(_arg(a) for a in args)]
        return script(keys=[PREFIX + "slot"], args=argv, client=pipe or self.client)

    def release_lock(self, key: str, token: str) -> None:
        self._registered()["release_lock"](keys=[key], args=[token], client=self.client)

    @staticmethod
    def key(kind: str, ident: Any = "") -> str:
        return f"{PREFIX}{kind}{ident}"


def _arg(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)
