"""What bench/compare.py times, once per system: ours, raw RQ and Celery doing the same work.

Every function returns seconds (throughput, chain) from just before dispatch until the
completion callback or the chain's last step ran (its own timestamp, written to Redis), or the
seconds that dispatch itself took. The work is always no-op jobs, the worst case for overhead.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

#: RQ queue per pool of workers (bench/settings.py's BENCH_QUEUES).
OUR_QUEUES = {
    "BatchWorker": "batchjob",
    "SimpleBatchWorker": "bench-simple",
    "PersistentBatchWorker": "bench-persistent",
}
RAW_QUEUES = {"rq.Worker": "raw-fork", "rq.SimpleWorker": "raw-simple"}


def _rq_redis() -> Any:
    from django_batchqueue.execution.queues import get_queue

    return get_queue("batchjob").connection


def wait_key(redis: Any, key: str, timeout: float = 1800) -> float:
    """The timestamp stored at ``key`` once a callback wrote it."""
    deadline = time.monotonic() + timeout
    while (value := redis.get(key)) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{key} was not written within {timeout} s")
        time.sleep(0.005)
    return float(value)


# ----------------------------------------------------------------------------- ours


def ours_batch(n: int, worker: str, window: bool = True) -> float:
    """With the default release window, or with ``RELEASE_WINDOW: None`` (all enqueued)."""
    from django.conf import settings
    from django.test import override_settings

    from django_batchqueue import BatchManager

    tuning = {} if window else {"RELEASE_WINDOW": None}
    with override_settings(BATCHQUEUE={**settings.BATCHQUEUE, **tuning}):
        start = time.time()
        batch_id = (
            BatchManager()
            .batch([{"class": "bench.jobs.NoopJob", "args": {"i": i}} for i in range(n)])
            .on_complete("bench.jobs.MarkDone")
            .queue_config(OUR_QUEUES[worker])
            .dispatch()
        )
    return wait_key(_rq_redis(), f"bench:done:{batch_id}") - start


def ours_chain(steps: int, worker: str) -> float:
    from django_batchqueue import BatchManager

    start = time.time()
    batch_id = (
        BatchManager()
        .chain(["bench.jobs.NoopJob"] * (steps - 1) + ["bench.jobs.MarkStep"])
        .queue_config(OUR_QUEUES[worker])
        .dispatch()
    )
    return wait_key(_rq_redis(), f"bench:done:{batch_id}") - start


def ours_dispatch(n: int, enqueue_all: bool = False) -> float:
    """Dispatch with the default release window (a window of RQ jobs is enqueued, the rest
    wait as rows), or with ``RELEASE_WINDOW: None`` (every job enqueued at once, like raw)."""
    from django.conf import settings
    from django.test import override_settings

    from django_batchqueue import BatchManager
    from django_batchqueue.models import Batch

    tuning = {"RELEASE_WINDOW": None} if enqueue_all else {}
    with override_settings(BATCHQUEUE={**settings.BATCHQUEUE, **tuning}):
        start = time.perf_counter()
        batch_id = (
            BatchManager()
            .batch([{"class": "bench.jobs.NoopJob", "args": {"i": i}} for i in range(n)])
            .dispatch()
        )
        took = time.perf_counter() - start
    Batch.objects.filter(pk=batch_id).delete()
    return took


# ----------------------------------------------------------------------------- raw RQ


def _raw_queue(worker: str) -> Any:
    from django_batchqueue.execution.queues import get_queue

    return get_queue(RAW_QUEUES[worker])


def raw_batch(n: int, worker: str) -> float:
    """enqueue_many of n no-ops, each counting itself in ``on_success``; the last one to finish
    enqueues the final callback (bench.jobs.raw_fan_in)."""
    from rq import Callback, Queue

    queue = _raw_queue(worker)
    token = uuid.uuid4().hex
    on_success = Callback("bench.jobs.raw_fan_in")
    start = time.time()
    queue.enqueue_many(
        [
            Queue.prepare_data(
                "bench.jobs.noop",
                args=(i,),
                result_ttl=0,
                meta={"fan_in": [token, n]},
                on_success=on_success,
            )
            for i in range(n)
        ]
    )
    return wait_key(queue.connection, f"bench:done:{token}") - start


def raw_chain(steps: int, worker: str) -> float:
    """Each step ``depends_on`` the one before, the last one records the time."""
    queue = _raw_queue(worker)
    token = uuid.uuid4().hex
    start = time.time()
    previous = None
    for i in range(steps - 1):
        previous = queue.enqueue("bench.jobs.noop", i, depends_on=previous, result_ttl=600)
    queue.enqueue("bench.jobs.raw_mark_done", token, depends_on=previous, result_ttl=0)
    return wait_key(queue.connection, f"bench:done:{token}") - start


def raw_dispatch(n: int) -> float:
    from rq import Queue

    queue = _raw_queue("rq.Worker")
    start = time.perf_counter()
    queue.enqueue_many(
        [Queue.prepare_data("bench.jobs.noop", args=(i,), result_ttl=0) for i in range(n)]
    )
    return time.perf_counter() - start


# ----------------------------------------------------------------------------- Celery


def celery_chord(n: int) -> float:
    from celery import chord, group

    from bench.celery_app import app, mark_done, noop

    token = uuid.uuid4().hex
    start = time.time()
    chord(group(noop.s(i) for i in range(n)), mark_done.s(token)).apply_async()
    return wait_key(app.backend.client, f"bench:done:{token}") - start


def celery_group(n: int) -> float:
    """A group without callback, waited for the way a user would: ``GroupResult.get()``."""
    from celery import group

    from bench.celery_app import noop

    start = time.time()
    result = group(noop.s(i) for i in range(n)).apply_async()
    result.get(timeout=1800)
    took = time.time() - start
    result.forget()
    return took


def celery_chain(steps: int) -> float:
    from celery import chain

    from bench.celery_app import app, mark_done, noop

    token = uuid.uuid4().hex
    start = time.time()
    chain(*[noop.si(i) for i in range(steps - 1)], mark_done.si(token)).apply_async()
    return wait_key(app.backend.client, f"bench:done:{token}") - start


def celery_group_dispatch(n: int) -> float:
    from celery import group

    from bench.celery_app import noop

    start = time.perf_counter()
    group(noop.s(i) for i in range(n)).apply_async()
    return time.perf_counter() - start


def celery_chord_dispatch(n: int) -> float:
    from celery import chord, group

    from bench.celery_app import mark_done, noop

    start = time.perf_counter()
    chord(group(noop.s(i) for i in range(n)), mark_done.s("dispatch")).apply_async()
    return time.perf_counter() - start


def purge_celery() -> None:
    """Delete Celery's messages and results but keep kombu's bindings (workers rely on them)."""
    from bench.celery_app import app

    redis = app.backend.client
    doomed = [k for k in redis.scan_iter(count=1000) if not k.startswith(b"_kombu.binding")]
    for i in range(0, len(doomed), 1000):
        redis.unlink(*doomed[i : i + 1000])


# ----------------------------------------------------------------------------- the menu

#: system label -> (pool it needs, function of n)
THROUGHPUT: dict[str, tuple[str, Callable[[int], float]]] = {
    "ours BatchWorker": ("ours-fork", lambda n: ours_batch(n, "BatchWorker")),
    "ours SimpleBatchWorker": ("ours-simple", lambda n: ours_batch(n, "SimpleBatchWorker")),
    "ours PersistentBatchWorker": (
        "ours-persistent",
        lambda n: ours_batch(n, "PersistentBatchWorker"),
    ),
    "ours SimpleBatchWorker, no window": (
        "ours-simple",
        lambda n: ours_batch(n, "SimpleBatchWorker", window=False),
    ),
    "raw rq.Worker": ("raw-fork", lambda n: raw_batch(n, "rq.Worker")),
    "raw rq.SimpleWorker": ("raw-simple", lambda n: raw_batch(n, "rq.SimpleWorker")),
    "Celery chord": ("celery", celery_chord),
    "Celery group": ("celery", celery_group),
}
CHAIN: dict[str, tuple[str, Callable[[int], float]]] = {
    "ours BatchWorker": ("ours-fork", lambda n: ours_chain(n, "BatchWorker")),
    "ours SimpleBatchWorker": ("ours-simple", lambda n: ours_chain(n, "SimpleBatchWorker")),
    "ours PersistentBatchWorker": (
        "ours-persistent",
        lambda n: ours_chain(n, "PersistentBatchWorker"),
    ),
    "raw rq.Worker": ("raw-fork", lambda n: raw_chain(n, "rq.Worker")),
    "raw rq.SimpleWorker": ("raw-simple", lambda n: raw_chain(n, "rq.SimpleWorker")),
    "Celery chain": ("celery", celery_chain),
}
DISPATCH: dict[str, Callable[[int], float]] = {
    "ours": ours_dispatch,
    "ours, enqueue all": lambda n: ours_dispatch(n, enqueue_all=True),
    "raw enqueue_many": raw_dispatch,
    "Celery group": celery_group_dispatch,
    "Celery chord": celery_chord_dispatch,
}
