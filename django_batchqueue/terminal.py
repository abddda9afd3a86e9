"""Text progress for terminals (``manage.py batchqueue_status``): bars, rates and ETAs.

Everything here is pure formatting over storage records and the progress dict of
``BatchManager.get_progress``; the command does the reading.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from .states import BatchType

#: Seconds of samples a rate is measured over while watching.
RATE_WINDOW = 30.0


def bar(percentage: int, width: int = 30, ascii_only: bool = False) -> str:
    """``[#####.....]`` (or block characters) filled to ``percentage``."""
    full, empty = ("#", ".") if ascii_only else ("█", "░")
    filled = round(width * max(0, min(percentage, 100)) / 100)
    return f"[{full * filled}{empty * (width - filled)}]"


def duration(seconds: float | None) -> str:
    """``42s``, ``3m 05s``, ``2h 10m``; ``-`` when unknown."""
    if seconds is None or seconds < 0:
        return "-"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def type_label(batch_type: str) -> str:
    """What Python calls the kind (``batch(...)`` is parallel, ``chain(...)`` a chain)."""
    return "chain" if batch_type == BatchType.SEQUENTIAL else "parallel"


def leaf_done(progress: dict[str, Any]) -> tuple[int, int]:
    """Finished and total leaf jobs (a nested batch's jobs count one by one)."""
    leaf = progress["leaf"]
    done = leaf["completed_jobs"] + leaf["failed_jobs"] + leaf["cancelled_jobs"]
    return done, leaf["total_jobs"]


@dataclass
class RateMeter:
    """Jobs finished per second, per batch: measured between samples while watching (over the
    last :data:`RATE_WINDOW` seconds), else averaged since the batch started."""

    window: float = RATE_WINDOW
    clock: Any = time.monotonic
    samples: dict[str, deque[tuple[float, int]]] = field(default_factory=dict)

    def rate(self, batch_id: str, done: int, started_at: datetime | None) -> float | None:
        now = self.clock()
        seen = self.samples.setdefault(batch_id, deque())
        seen.append((now, done))
        while len(seen) > 2 and now - seen[1][0] >= self.window:
            seen.popleft()
        first_at, first_done = seen[0]
        if now - first_at > 0 and done > first_done:
            return (done - first_done) / (now - first_at)
        if started_at is None or not done:
            return None
        elapsed = (timezone.now() - started_at).total_seconds()
        return done / elapsed if elapsed > 0 else None


def eta(done: int, total: int, rate: float | None) -> float | None:
    """Seconds until every job has finished at ``rate``; ``None`` when unknown."""
    if rate is None or rate <= 0:
        return None
    return max(total - done, 0) / rate


def elapsed(started_at: datetime | None, finished_at: datetime | None) -> float | None:
    if started_at is None:
        return None
    return ((finished_at or timezone.now()) - started_at) / timedelta(seconds=1)
