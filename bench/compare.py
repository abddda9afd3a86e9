"""django-batchqueue against raw RQ and Celery, on the same machine, in the same run.

    python bench/compare.py                          # SQLite and PostgreSQL, 3 rounds
    python bench/compare.py --db postgres --repeat 2 --jobs 500

1. **Batch**: N no-op jobs with a completion callback on 2 workers of each system: ours on
   ``BatchWorker`` (the recommended worker) and ``SimpleBatchWorker``; raw RQ on ``rq.Worker`` and
   ``rq.SimpleWorker`` (``enqueue_many``, each job counting itself in ``on_success``, the last one
   enqueueing the callback); a Celery chord and a group (waited with ``GroupResult.get()``) on
   ``celery worker -P prefork -c 2``. Seconds from dispatch until the callback ran.
2. **Chain**: a chain of S steps on 1 worker of each: ours, raw RQ ``depends_on``, Celery
   ``chain``. Milliseconds per step.
3. **Dispatch**: M jobs, no worker running: ours ``dispatch()``, raw ``enqueue_many``, Celery
   ``group`` and ``chord`` ``apply_async()``.

Every system's pool of workers is started before a phase and kept running through it (each on
its own queue), and the systems take turns within each round, in an order that rotates from
round to round; each figure is the median of ``--repeat`` rounds. So drift on a shared machine
hits all systems alike and the ratios stay fair even when absolute figures are noisy.
Results go to ``--out`` (JSON) for bench/plot.py. Redis: RQ and ours on ``BENCH_REDIS``
(default DB 9), Celery on ``BENCH_CELERY_URL`` (default DB 10); both DBs are flushed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BENCH_REDIS", "redis://127.0.0.1:6379/9")
os.environ.setdefault("BENCH_CELERY_URL", "redis://127.0.0.1:6379/10")
os.environ.setdefault("BENCH_PG_NAME", "batchqueue_bench16")

from bench import report  # noqa: E402
from bench.run import _setup, _start_workers, spawn, stop  # noqa: E402

#: pool -> (RQ worker class, RQ queue); "celery" is started apart.
RQ_POOLS = {
    "ours-fork": ("django_batchqueue.worker.BatchWorker", "batchjob"),
    "ours-simple": ("django_batchqueue.worker.SimpleBatchWorker", "bench-simple"),
    "ours-persistent": ("django_batchqueue.worker.PersistentBatchWorker", "bench-persistent"),
    "raw-fork": ("rq.Worker", "raw-fork"),
    "raw-simple": ("rq.SimpleWorker", "raw-simple"),
}
Procs = list[subprocess.Popen]


def _start_celery(n: int) -> Procs:
    from bench.celery_app import QUEUE, app

    name = f"bench16-{uuid.uuid4().hex[:6]}@%h"
    cmd = [sys.executable, "-m", "celery", "-A", "bench.celery_app", "worker"]
    cmd += ["-P", "prefork", "-c", str(n), "-Q", QUEUE, "-l", "WARNING", "-n", name]
    proc = spawn(cmd, f"celery-{os.environ['BENCH_DB']}-c{n}")
    deadline = time.monotonic() + 60
    while not app.control.ping(timeout=0.5):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("the Celery worker did not start (see .local/bench-logs)")
    time.sleep(1)
    return [proc]


def _start_pools(pools: set[str], n: int) -> Procs:
    procs: Procs = []
    try:
        for pool in sorted(pools):
            if pool == "celery":
                procs += _start_celery(n)
            else:
                worker_class, queue = RQ_POOLS[pool]
                procs += _start_workers(worker_class, n, queue)
    except BaseException:
        stop(procs)
        raise
    return procs


def _flush() -> None:
    from bench.celery_app import app
    from django_batchqueue.execution.queues import get_queue

    get_queue("batchjob").connection.flushdb()
    app.backend.client.flushdb()


def _rounds(menu: dict[str, Any], repeat: int, run: Any) -> dict[str, list[float]]:
    """Each system once per round, the order rotating by one from round to round."""
    names = list(menu)
    out: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeat):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            out[name].append(run(name))
            print(f"  {name}: {out[name][-1]:.3f}", file=sys.stderr, flush=True)
    return out


def _phase(menu: dict[str, Any], n_workers: int, repeat: int, size: int) -> dict:
    procs = _start_pools({pool for pool, _ in menu.values()}, n_workers)
    try:
        return _rounds(menu, repeat, lambda name: menu[name][1](size))
    finally:
        stop(procs)
        _flush()


def child(args: argparse.Namespace) -> None:
    from bench import systems

    _setup(args.db)
    _flush()
    out: dict[str, Any] = {"db": args.db}
    phases = args.phases.split(",")
    if "batch" in phases:
        print(f"batch of {args.jobs} ({args.db})", file=sys.stderr)
        out["batch"] = _phase(systems.THROUGHPUT, args.n_workers, args.repeat, args.jobs)
    if "chain" in phases:
        print(f"chain of {args.steps} ({args.db})", file=sys.stderr)
        secs = _phase(systems.CHAIN, 1, args.repeat, args.steps)
        out["chain"] = {name: [s * 1000 / args.steps for s in runs] for name, runs in secs.items()}
    if "dispatch" in phases:
        print(f"dispatch of {args.dispatch_jobs} ({args.db})", file=sys.stderr)

        def dispatch(name: str) -> float:
            took = systems.DISPATCH[name](args.dispatch_jobs)
            systems.purge_celery()
            from django_batchqueue.execution.queues import get_queue

            get_queue("batchjob").connection.flushdb()
            return took

        out["dispatch"] = _rounds(systems.DISPATCH, args.repeat, dispatch)
        _flush()
    from django.db import connection

    connection.close()
    print(json.dumps(out))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--phases", default="batch,chain,dispatch")
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--dispatch-jobs", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--n-workers", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / ".local" / "compare.json"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python bench/compare.py " + " ".join(sys.argv[1:]),
        "jobs": args.jobs,
        "steps": args.steps,
        "dispatch_jobs": args.dispatch_jobs,
        "repeat": args.repeat,
        "n_workers": args.n_workers,
        "cpus": os.cpu_count(),
    }
    results = []
    for db in args.db.split(","):
        cmd = [sys.executable, __file__, "--child", "--db", db] + [
            f"--{k.replace('_', '-')}={v}"
            for k, v in vars(args).items()
            if k not in ("child", "db", "out")
        ]
        proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            print(proc.stdout)
            return 1
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")
    print(report.render(meta, results))
    print(f"\nresults: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
