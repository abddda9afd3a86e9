"""Reconcile at scale: how fast a crowd of lost rows is repaired, with healthy rows ahead.

    python bench/reconcile_scale.py                       # PostgreSQL, 50,000 lost rows
    python bench/reconcile_scale.py --db sqlite --lost 20000 --healthy 2500

Dispatches ``--healthy`` rows first (their RQ jobs stay in Redis, waiting) and ``--lost`` rows
after them, then makes Redis forget the lost rows' RQ jobs (as a Redis restart without
persistence does). Runs reconcile passes, as a worker does every RECONCILE_INTERVAL, until
nothing is left to repair, and prints each pass's time and repairs, whether any healthy row
was touched, and whether every lost row got a new RQ job. Exit status 1 if not.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import _queue, _setup  # noqa: E402

JOB = "bench.jobs.NoopJob"


def _dispatch(n: int, per_batch: int) -> list[str]:
    from django_batchqueue import BatchManager

    ids = []
    for start in range(0, n, per_batch):
        size = min(per_batch, n - start)
        jobs = [{"class": JOB, "args": {"i": start + i}} for i in range(size)]
        ids.append(str(BatchManager().batch(jobs).dispatch()))
    return ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--lost", type=int, default=50_000)
    parser.add_argument("--healthy", type=int, default=2_500)
    parser.add_argument("--per-batch", type=int, default=5_000)
    parser.add_argument("--max-passes", type=int, default=10)
    args = parser.parse_args()
    os.environ.setdefault("BENCH_PG_NAME", "batchqueue_reconcile_scale")
    _setup(args.db)
    from django.conf import settings

    from django_batchqueue import conf
    from django_batchqueue.execution.queues import Enqueue, enqueue_now
    from django_batchqueue.execution.reconcile import reconcile
    from django_batchqueue.models import BatchJob

    # Every row queued at once (no release window), so all of them are in RQ to be lost.
    settings.BATCHQUEUE = {**getattr(settings, "BATCHQUEUE", {}), "RELEASE_WINDOW": None}
    redis = _queue().connection
    redis.flushdb()
    started = time.perf_counter()
    healthy = _dispatch(args.healthy, args.per_batch)
    lost = _dispatch(args.lost, args.per_batch)
    print(
        f"dispatched {args.healthy:,} healthy + {args.lost:,} rows in "
        f"{time.perf_counter() - started:.1f}s ({args.db})"
    )
    keep = {
        str(pk): rq_id
        for pk, rq_id in BatchJob.objects.filter(batch_id__in=healthy).values_list(
            "pk", "rq_job_id"
        )
    }
    redis.flushdb()  # Redis forgets everything ...
    enqueue_now([Enqueue(pk, rq_id, "batchjob") for pk, rq_id in keep.items()])  # ... but these
    print(f"Redis now holds {_queue().count:,} waiting RQ jobs (the healthy rows')")
    print(f"RECONCILE_LIMIT (rows per step) = {conf.get('RECONCILE_LIMIT')}")
    total = 0.0
    for n in range(1, args.max_passes + 1):
        t0 = time.perf_counter()
        report = reconcile(grace_seconds=0)
        took = time.perf_counter() - t0
        total += took
        print(
            f"pass {n}: {took:6.2f}s, examined {report.examined:,} rows, "
            f"re-enqueued {report.reenqueued:,}"
        )
        if report.reenqueued == 0:
            break
    touched = sum(
        1
        for pk, rq_id in BatchJob.objects.filter(batch_id__in=healthy).values_list(
            "pk", "rq_job_id"
        )
        if keep[str(pk)] != rq_id
    )
    lost_ids = set(BatchJob.objects.filter(batch_id__in=lost).values_list("rq_job_id", flat=True))
    in_redis = sum(
        1
        for v in redis.lrange(_queue().key, 0, -1)
        if (v.decode() if isinstance(v, bytes) else v) in lost_ids
    )
    print(
        f"healthy rows touched: {touched}; lost rows back in RQ: {in_redis:,} of {args.lost:,}; "
        f"reconcile time in all: {total:.1f}s"
    )
    redis.flushdb()
    return 0 if touched == 0 and in_redis == args.lost else 1


if __name__ == "__main__":
    sys.exit(main())
