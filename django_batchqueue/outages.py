"""Riding out Redis outages and parent deaths in the batch workers.

RQ's work loop quits on the first Redis error outside its dequeue (while it checks for
suspension, sends a heartbeat, watches a work horse or finishes a job). A batch worker instead
waits for Redis to come back and carries on, so a restart of Redis costs no worker, and a job
that finished meanwhile still has its outcome recorded (outcomes go to the database, not to
Redis).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import time
from collections.abc import Callable

import redis

logger = logging.getLogger(__name__)

#: What a lost or restarting Redis raises.
REDIS_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
#: Longest pause between two attempts to reach Redis, in seconds.
MAX_WAIT = 10.0
_PR_SET_PDEATHSIG = 1


def wait_for_redis(
    ping: Callable[[], object], who: str, doing: str, stop: Callable[[], bool]
) -> bool:
    """Block until ``ping()`` succeeds (True) or ``stop()`` says to give up (False)."""
    delay, since = 0.5, time.monotonic()
    logger.warning("batchqueue: worker %s lost Redis while %s; waiting for it", who, doing)
    while not stop():
        try:
            ping()
        except REDIS_ERRORS:
            time.sleep(delay)
            delay = min(delay * 2, MAX_WAIT)
            continue
        logger.warning(
            "batchqueue: worker %s reached Redis again after %.1fs", who, time.monotonic() - since
        )
        return True
    return False


def die_with_parent() -> None:
    """In a work horse: be killed when the worker that forked it dies (Linux; elsewhere a
    no-op), so a job never goes on running after its worker was killed and its run was
    failed over to another worker."""
    parent = os.getppid()
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)
