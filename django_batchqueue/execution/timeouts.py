"""Per-job timeouts that cover the user's code only, never the bookkeeping after it."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ..exceptions import JobTimeout


@contextmanager
def job_timeout(seconds: float | None) -> Iterator[None]:
    """Raise :class:`JobTimeout` inside the block once ``seconds`` have passed.

    RQ arms its own SIGALRM (the job's timeout plus ``TIMEOUT_GRACE``) around the whole runner.
    This replaces that alarm with the job's own limit while the user's code runs and disarms it
    afterwards, so a timeout can never interrupt the database work that records the outcome.
    Outside the main thread signals are unavailable and RQ's outer timeout is the only limit.
    """
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum: int, frame: object) -> None:
        raise JobTimeout(f"job exceeded its timeout of {seconds:g}s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous or signal.SIG_DFL)
