"""The Celery side of bench/compare.py: an app on Redis, a no-op task and a callback task.

    celery -A bench.celery_app worker -c 2 -P prefork     # what bench/compare.py starts

Broker and result backend are ``BENCH_CELERY_URL`` (default Redis DB 10). Celery's defaults
otherwise (results stored, prefetch multiplier 4, acks early): what a user gets out of the box.
The callback writes the time it ran to ``bench:done:<token>`` in the same Redis, as our
``bench.jobs.MarkDone`` does in RQ's, so both are timed from dispatch to callback alike.
"""

from __future__ import annotations

import os
import time
from typing import Any

from celery import Celery

URL = os.environ.get("BENCH_CELERY_URL", "redis://127.0.0.1:6379/10")
QUEUE = "bench16"

app = Celery("bench", broker=URL, backend=URL)
app.conf.update(
    task_default_queue=QUEUE,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    result_expires=3600,
)


@app.task(name="bench.noop")
def noop(i: int | None = None) -> None:
    """The same no-op as ``bench.jobs.noop`` and ``NoopJob``."""
    return None


@app.task(name="bench.mark_done")
def mark_done(*args: Any) -> None:
    """A chord's callback (``mark_done.s(token)``: the header's results come first) or a chain's
    last step (``mark_done.si(token)``): records when it ran."""
    token = args[-1]
    app.backend.client.set(f"bench:done:{token}", repr(time.time()))
