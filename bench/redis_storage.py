"""Redis storage's size and expiry: bytes of Redis memory per stored job, and how fast a
finished batch's keys disappear after ``REDIS_TTL``.

    python bench/redis_storage.py                 # 10,000 and 100,000 jobs, 200 expiring batches
    python bench/redis_storage.py --jobs 10000 --expiring 50

Uses its own Redis database (``BENCH_REDIS``, default db 10 of the local server, flushed).
Memory is read two ways: the growth of ``used_memory`` while a batch of no-op jobs (small args)
is dispatched, and the sum of ``MEMORY USAGE`` over the storage's own keys (RQ's keys, one
release window of jobs, are not counted there).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _setup(ttl: int) -> None:
    os.environ.setdefault("BENCH_REDIS", "redis://127.0.0.1:6379/10")
    os.environ["BENCH_STORAGE"] = "redis"
    sys.path.insert(0, str(ROOT))
    from bench.run import _setup as setup_django

    setup_django("redis")
    from django.conf import settings

    settings.BATCHQUEUE = {**settings.BATCHQUEUE, "REDIS_TTL": ttl}


def _storage_bytes(client) -> tuple[int, int]:
    """(keys, bytes) of the storage's namespace."""
    from django_batchqueue.storage.redis.namespace import PREFIX

    keys = list(client.scan_iter(match=PREFIX.replace("{", "[{]") + "*", count=5000))
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key, samples=0)
    return len(keys), sum(n or 0 for n in pipe.execute())


def bytes_per_job(n: int) -> None:
    from django_batchqueue import BatchManager
    from django_batchqueue.execution.queues import get_queue
    from django_batchqueue.storage import get_storage

    client = get_storage().client  # type: ignore[attr-defined]
    client.flushdb()
    before = int(client.info("memory")["used_memory"])
    start = time.perf_counter()
    batch_id = (
        BatchManager()
        .batch([{"class": "bench.jobs.NoopJob", "args": {"i": i}} for i in range(n)])
        .dispatch()
    )
    took = time.perf_counter() - start
    grown = int(client.info("memory")["used_memory"]) - before
    keys, stored = _storage_bytes(client)
    in_rq = len(get_queue("batchjob"))
    print(
        f"{n:>7} jobs: dispatched in {took:5.2f} s; used_memory +{grown / 2**20:6.1f} MiB "
        f"({grown / n:5.0f} B/job, RQ holding {in_rq} of them); storage keys {keys}, "
        f"MEMORY USAGE {stored / 2**20:6.1f} MiB ({stored / n:5.0f} B/job)"
    )
    get_storage().delete_batches([uuid.UUID(batch_id)])
    client.flushdb()


def expiry(batches: int, jobs: int, ttl: int) -> None:
    from django_batchqueue import BatchManager
    from django_batchqueue.storage import get_storage
    from django_batchqueue.testing import drain

    client = get_storage().client  # type: ignore[attr-defined]
    client.flushdb()
    m = BatchManager()
    for _ in range(batches):
        m.batch([{"class": "bench.jobs.NoopJob", "args": {"i": i}} for i in range(jobs)]).dispatch()
    drain()
    finished = time.monotonic()
    keys, _ = _storage_bytes(client)
    print(f"{batches} finished batches of {jobs} jobs: {keys} storage keys, TTL {ttl} s")
    last = keys
    while True:
        time.sleep(0.5)
        left, _ = _storage_bytes(client)
        waited = time.monotonic() - finished
        if left != last:
            print(f"  after {waited:5.1f} s: {left} keys left")
            last = left
        # the namespace's indexes (sorted sets of every batch) stay until reconcile forgets
        if left <= 8 or waited > ttl + 120:
            break
    gone = keys - left
    forgot = get_storage().forget_expired()  # type: ignore[attr-defined]
    print(
        f"  {gone} of {keys} keys expired; the last tree's keys were gone {waited - ttl:.1f} s "
        f"after its TTL ran out (sampled every 0.5 s); {left} index keys left, and the next "
        f"reconcile pass dropped the {forgot} expired trees from them"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--jobs", default="10000,100000")
    parser.add_argument("--expiring", type=int, default=200, help="batches of 10 jobs")
    parser.add_argument("--ttl", type=int, default=5)
    args = parser.parse_args()
    _setup(args.ttl)
    for n in (int(x) for x in args.jobs.split(",")):
        bytes_per_job(n)
    expiry(args.expiring, 10, args.ttl)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
