"""Units of work on Redis storage: tree locks and what runs once a unit is over.

Redis has no transaction that spans Python code, so a unit of work is not rolled back on error
(``supports_transactions = False``; the engine refuses bad input before it writes, as on the
memory backend). Each transition inside it is atomic by itself. What SQL serialises with a row
lock on a tree's root, Redis storage serialises with a lock key per tree (``SET NX PX`` with a
random token, released only by its holder, expiring by itself if the holder dies), taken by
:meth:`decide`, :meth:`lock` and :meth:`lock_tree` and held until the outermost unit ends.
``on_commit`` work (enqueueing RQ jobs) runs after the locks are released.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..records import BatchRecord
from .namespace import Namespace

#: A lock a dead holder left behind frees itself after this long.
LOCK_MS = 15_000
#: Waiting longer than this for a tree's lock is an error (a decision takes milliseconds).
LOCK_WAIT = 60.0


class LockTimeout(RuntimeError):
    """A tree's lock stayed taken for longer than a decision can take."""


class UnitsOfWork(Namespace):
    """``atomic``, ``decide``, ``lock``, ``lock_tree`` and ``on_commit``."""

    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()

    def _unit(self) -> dict[str, Any] | None:
        unit: dict[str, Any] | None = getattr(self._local, "unit", None)
        return unit

    @contextmanager
    def atomic(self) -> Iterator[None]:
        if self._unit() is not None:
            yield
            return
        unit: dict[str, Any] = {"locks": {}, "pending": []}
        self._local.unit = unit
        try:
            yield
        except BaseException:
            self._local.unit = None
            self._release(unit)
            raise
        self._local.unit = None
        self._release(unit)
        for fn in unit["pending"]:
            fn()

    def _release(self, unit: dict[str, Any]) -> None:
        for key, token in unit["locks"].items():
            self.release_lock(key, token)

    @contextmanager
    def decide(self, batch_id: uuid.UUID) -> Iterator[bool]:
        with self.atomic():
            yield self.lock(batch_id)

    def _root_of(self, batch_id: uuid.UUID) -> str | None:
        root: str | None = self.client.hget(self.key("b:", batch_id), "root_id")
        if root is None:  # no such batch
            return None
        return root or str(batch_id)

    def lock(self, batch_id: uuid.UUID) -> bool:
        root = self._root_of(batch_id)
        if root is None:
            return False
        self._take(root)
        self.run("count", batch_id, 0, 0, 0, 0, False, "")  # marks it changed (updated_at)
        return True

    def lock_tree(self, batch: BatchRecord) -> None:
        self._take(str(batch.tree_root))

    def _take(self, root: str) -> None:
        unit = self._unit()
        if unit is None:
            raise RuntimeError("Redis storage: lock() outside a unit of work")
        key = self.key("lock:", root)
        if key in unit["locks"]:
            return
        token = uuid.uuid4().hex
        client, deadline, pause = self.client, time.monotonic() + LOCK_WAIT, 0.0005
        while not client.set(key, token, nx=True, px=LOCK_MS):
            if time.monotonic() > deadline:
                raise LockTimeout(f"the lock of batch tree {root} stayed taken for {LOCK_WAIT} s")
            time.sleep(pause)
            pause = min(pause * 2, 0.02)
        unit["locks"][key] = token

    def on_commit(self, fn: Callable[[], Any]) -> None:
        unit = self._unit()
        if unit is None:
            fn()
        else:
            unit["pending"].append(fn)
