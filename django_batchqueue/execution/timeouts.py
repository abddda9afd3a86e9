"""Per-job timeouts that cover the user's code only, never the bookkeeping after it."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .. import conf
from ..exceptions import JobTimeout, JobTimeoutIgnored

#: Exit status of a process whose job ignored its timeout twice (it caught BaseException).
IGNORED_TIMEOUT_EXIT = 75


@contextmanager
def job_timeout(seconds: float | None) -> Iterator[None]:
    """Raise :class:`JobTimeout` inside the block once ``seconds`` have passed.

    RQ arms its own SIGALRM (the job's timeout plus ``TIMEOUT_GRACE``) around the whole runner.
    This replaces that alarm with the job's own limit while the user's code runs and disarms it
    afterwards, so a timeout can never interrupt the database work that records the outcome.
    Outside the main thread signals are unavailable and RQ's outer timeout is the only limit.

    A job that catches the :class:`JobTimeout` and carries on gets ``TIMEOUT_GRACE`` seconds,
    then :class:`~django_batchqueue.exceptions.JobTimeoutIgnored` (a ``BaseException``); one
    that swallows even that is ended with the process (exit status 75) after another grace
    period: a forking worker's parent records the dead horse, a simple worker is restarted by
    its supervisor and reconcile fails the run over.
    """
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return
    grace = max(0.1, float(conf.get("TIMEOUT_GRACE")))
    alarms = 0

    def on_alarm(signum: int, frame: object) -> None:
        nonlocal alarms
        alarms += 1
        signal.setitimer(signal.ITIMER_REAL, grace)
        if alarms == 1:
            raise JobTimeout(f"job exceeded its timeout of {seconds:g}s")
        if alarms == 2:
            raise JobTimeoutIgnored(
                f"job ignored its timeout of {seconds:g}s for {grace:g}s more and was stopped"
            )
        sys.stderr.write(f"batchqueue: a job ignored its timeout of {seconds:g}s twice; exiting\n")
        os._exit(IGNORED_TIMEOUT_EXIT)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous or signal.SIG_DFL)
