"""The memory backend's state: every batch and row in dicts, and units of work under one lock."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.utils import timezone

from ...serialization import dumps
from ..records import BatchRecord, JobRecord


def to_json(value: Any) -> Any:
    """``value`` as it reads back from a JSON column."""
    return None if value is None else json.loads(dumps(value))


class MemoryState:
    """Dicts of batches and rows; one re-entrant lock serialises every unit of work."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._local = threading.local()
        self.reset()

    def reset(self) -> None:
        """Forget every batch (between tests)."""
        with self._lock:
            self.batches: dict[uuid.UUID, BatchRecord] = {}
            self.jobs: dict[uuid.UUID, JobRecord] = {}
            self._rows_of: dict[uuid.UUID, list[uuid.UUID]] = {}

    # -- units of work ----------------------------------------------------------------------

    @contextmanager
    def atomic(self) -> Iterator[None]:
        with self._lock:
            pending = getattr(self._local, "pending", None)
            outermost = pending is None
            if outermost:
                self._local.pending = []
            try:
                yield
            except BaseException:
                if outermost:
                    self._local.pending = None
                raise
            if outermost:
                callbacks, self._local.pending = self._local.pending, None
                for fn in callbacks:
                    fn()

    @contextmanager
    def decide(self, batch_id: uuid.UUID) -> Iterator[bool]:
        with self.atomic():
            yield self.lock(batch_id)

    def lock_tree(self, batch: BatchRecord) -> None:
        pass  # one lock serialises everything already

    def lock(self, batch_id: uuid.UUID) -> bool:
        batch = self.batches.get(batch_id)
        if batch is not None:
            batch.updated_at = timezone.now()
        return batch is not None

    def on_commit(self, fn: Callable[[], Any]) -> None:
        pending = getattr(self._local, "pending", None)
        if pending is None:
            fn()
        else:
            pending.append(fn)

    def check(self) -> list[Any]:
        return []

    def warm_up(self) -> None:
        pass

    def _store(self, row: JobRecord) -> None:
        self.jobs[row.id] = row
        self._rows_of[row.batch_id].append(row.id)

    def _rows(
        self, batch_id: uuid.UUID, kind: str | tuple[str, ...] | None = None
    ) -> list[JobRecord]:
        kinds = (kind,) if isinstance(kind, str) else kind
        rows = (self.jobs[i] for i in self._rows_of.get(batch_id, []))
        return [r for r in rows if kinds is None or r.kind in kinds]
