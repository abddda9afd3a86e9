"""What each system asks of Redis and of the database per job: the work behind the time.

    python bench/traffic.py                       # PostgreSQL, 2,000-job batch, 200-step chain
    python bench/traffic.py --jobs 500 --steps 100

For each system of bench/compare.py's batch and chain phases (ours on
``PersistentBatchWorker``, raw RQ on ``rq.SimpleWorker``, Celery), only that system's pool of
workers is started, one run is made, and the deltas of the Redis server's ``INFO commandstats``
(every command it executed, pipelined or not, and the microseconds it spent executing them)
and of the bench database's ``pg_stat_database`` (committed transactions) are divided by the
jobs run. Idle workers of the measured pool poll and beat meanwhile; that traffic is included
(it is what a running system costs); this script's own polling for the callback's timestamp
is left out. Times are printed too, for scale only: bench/compare.py measures them properly
(interleaved rounds).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BENCH_REDIS", "redis://127.0.0.1:6379/9")
os.environ.setdefault("BENCH_CELERY_URL", "redis://127.0.0.1:6379/10")
os.environ.setdefault("BENCH_PG_NAME", "batchqueue_bench16")

from bench.compare import _flush, _start_pools  # noqa: E402
from bench.run import _setup, stop  # noqa: E402

#: (phase, system name in bench/systems.py's menus)
MEASURED = [
    ("batch", "ours PersistentBatchWorker"),
    ("batch", "raw rq.SimpleWorker"),
    ("batch", "Celery chord"),
    ("chain", "ours PersistentBatchWorker"),
    ("chain", "raw rq.SimpleWorker"),
    ("chain", "Celery chain"),
]


def _redis_calls(redis: Any) -> tuple[Counter[str], float]:
    stats = redis.info("commandstats")
    calls: Counter[str] = Counter()
    usec = 0.0
    for name, values in stats.items():
        calls[name.removeprefix("cmdstat_")] = int(values["calls"])
        usec += float(values["usec"])
    return calls, usec


def _pg_commits() -> int:
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
        return int(cursor.fetchone()[0])


def _counting_wait_key(polls: list[int]) -> Any:
    """bench/systems.py's ``wait_key``, counting its own GETs (left out of the figures)."""

    def wait_key(redis: Any, key: str, timeout: float = 1800) -> float:
        deadline = time.monotonic() + timeout
        while True:
            polls[0] += 1
            value = redis.get(key)
            if value is not None:
                return float(value)
            if time.monotonic() > deadline:
                raise RuntimeError(f"{key} was not written within {timeout} s")
            time.sleep(0.005)

    return wait_key


def measure(phase: str, name: str, size: int, n_workers: int) -> dict[str, Any]:
    from bench import systems
    from django_batchqueue.execution.queues import get_queue

    polls = [0]
    systems.wait_key = _counting_wait_key(polls)  # type: ignore[assignment]

    menu = systems.THROUGHPUT if phase == "batch" else systems.CHAIN
    pool, run = menu[name]
    redis = get_queue("batchjob").connection
    procs = _start_pools({pool}, n_workers if phase == "batch" else 1)
    try:
        time.sleep(1)
        calls0, usec0 = _redis_calls(redis)
        commits0 = _pg_commits()
        took = run(size)
        time.sleep(1.5)  # the workers' statistics reach pg_stat_database when they go idle
        calls1, usec1 = _redis_calls(redis)
        commits1 = _pg_commits()
    finally:
        stop(procs)
        _flush()
    calls = calls1 - calls0
    calls["get"] -= polls[0]  # the bench's own polling for the callback's timestamp
    calls["info"] = 0  # this script's own INFO
    return {
        "seconds": took,
        "redis_calls": sum(calls.values()) / size,
        "redis_busy_ms": (usec1 - usec0) / 1000 / size,
        "top": [(cmd, n / size) for cmd, n in calls.most_common(6)],
        "pg_commits": (commits1 - commits0) / size,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="postgres", choices=["postgres", "sqlite"])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--n-workers", type=int, default=2)
    args = parser.parse_args()
    _setup(args.db)
    _flush()
    print(f"per job ({args.jobs}-job batch on {args.n_workers} workers; {args.steps}-step chain)")
    print(f"{'phase':<6} {'system':<28} {'s':>6} {'Redis cmds':>10} {'Redis ms':>9} {'PG tx':>6}")
    for phase, name in MEASURED:
        size = args.jobs if phase == "batch" else args.steps
        m = measure(phase, name, size, args.n_workers)
        print(
            f"{phase:<6} {name:<28} {m['seconds']:6.2f} {m['redis_calls']:10.1f} "
            f"{m['redis_busy_ms']:9.3f} {m['pg_commits']:6.2f}"
        )
        print("       " + ", ".join(f"{cmd} {n:.1f}" for cmd, n in m["top"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
