"""Benchmarks of django-batchqueue against raw RQ, measured in the same run.

    python bench/run.py                      # both databases, both worker classes
    python bench/run.py --db sqlite --repeat 1 --jobs 500

1. Throughput: a parallel batch of N no-op jobs with on_complete, time from dispatch until the
   callback ran, against raw RQ running the same N no-op functions (enqueue_many) until the last
   finished, on 2 workers of the same class (RQ's SimpleWorker and its default forking Worker).
2. Dispatch: storing and enqueueing a batch of M jobs against raw ``enqueue_many`` of M jobs.

Each database is measured in a child process (Django settings are per process). Ratios are
ours / raw: 1.00 means no overhead. Figures vary from run to run on a shared machine; the
median of --repeat runs is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKER_CLASSES = {
    "simple": "rq.SimpleWorker",
    "fork": "rq.Worker",
    # The worker classes this app ships (RQ's, plus fork-safe connections and liveness);
    # raw RQ runs on them too, so the ratio still compares like with like.
    "batch-simple": "django_batchqueue.worker.SimpleBatchWorker",
    "batch-fork": "django_batchqueue.worker.BatchWorker",
    # One work horse for many jobs: raw RQ runs on it like on SimpleBatchWorker.
    "batch-persistent": "django_batchqueue.worker.PersistentBatchWorker",
}
TARGETS = {"throughput": 1.3, "dispatch": 1.5}


# ----------------------------------------------------------------------------- child process


def _setup(db: str) -> None:
    """``db``: "sqlite", "postgres", or "redis" (Redis storage; the models on SQLite, unused)."""
    if db == "redis":
        os.environ["BENCH_STORAGE"] = "redis"  # worker processes inherit it
        db = "sqlite"
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ["BENCH_DB"] = db
    sys.path.insert(0, str(ROOT))
    if db == "postgres":
        _recreate_pg_database()
    else:
        path = ROOT / ".local" / "bench.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _recreate_pg_database() -> None:
    import psycopg

    # Through a pooler (DATABASE_URL on PgBouncer), create the database on the server itself.
    url = os.environ.get(
        "BENCH_ADMIN_DATABASE_URL",
        os.environ.get("DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/postgres"),
    )
    name = os.environ.get("BENCH_PG_NAME", "batchqueue_bench")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def _queue():
    from django_batchqueue.execution.queues import get_queue

    return get_queue("batchjob")


def spawn(cmd: list[str], log_name: str) -> subprocess.Popen:
    """Start ``cmd`` in its own session (so it can be stopped as a group), output to a log."""
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="bench.settings", PYTHONPATH=str(ROOT))
    logs = ROOT / ".local" / "bench-logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = open(logs / f"{log_name}.log", "w")  # noqa: SIM115
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def _start_workers(
    worker_class: str, n: int, queue_name: str = "batchjob"
) -> list[subprocess.Popen]:
    """``n`` processes of ``manage.py rqworker <queue_name> --worker-class <worker_class>``."""
    from rq import Worker

    from django_batchqueue.execution.queues import get_queue

    cmd = [
        sys.executable,
        str(ROOT / "manage.py"),
        "rqworker",
        queue_name,
        "--worker-class",
        worker_class,
    ]
    procs = [
        spawn(cmd, f"{os.environ['BENCH_DB']}-{queue_name}-{worker_class}-{i}") for i in range(n)
    ]
    queue = get_queue(queue_name)
    deadline = time.monotonic() + 60
    while Worker.count(queue=queue) < n:
        if time.monotonic() > deadline:
            raise RuntimeError("workers did not start")
        time.sleep(0.1)
    time.sleep(0.5)
    return procs


def stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM each process group, SIGKILL what has not exited after 30 s."""
    for proc in procs:
        os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _stop_workers(procs: list[subprocess.Popen]) -> None:
    stop(procs)
    queue = _queue()
    queue.connection.flushdb()


def _successful(queue) -> int:
    from rq import Worker

    return sum(w.successful_job_count for w in Worker.all(queue=queue))


def _raw_throughput(n: int) -> float:
    from rq import Queue

    queue = _queue()
    before = _successful(queue)
    start = time.time()
    queue.enqueue_many(
        [Queue.prepare_data("bench.jobs.noop", args=(i,), result_ttl=0) for i in range(n)]
    )
    while _successful(queue) < before + n:
        time.sleep(0.005)
    return time.time() - start


def _our_throughput(n: int) -> float:
    from django_batchqueue import BatchManager

    redis = _queue().connection
    start = time.time()
    batch_id = (
        BatchManager()
        .batch([{"class": "bench.jobs.NoopJob", "args": {"i": i}} for i in range(n)])
        .on_complete("bench.jobs.MarkDone")
        .dispatch()
    )
    key = f"bench:done:{batch_id}"
    deadline = time.monotonic() + 1800
    while not redis.exists(key):
        if time.monotonic() > deadline:
            raise RuntimeError(f"batch {batch_id} did not finish")
        time.sleep(0.005)
    return float(redis.get(key)) - start


def _dispatch(m: int) -> tuple[float, float]:
    from rq import Queue

    from django_batchqueue import BatchManager
    from django_batchqueue.storage import get_storage

    queue = _queue()
    start = time.perf_counter()
    queue.enqueue_many(
        [Queue.prepare_data("bench.jobs.noop", args=(i,), result_ttl=0) for i in range(m)]
    )
    raw = time.perf_counter() - start
    queue.connection.flushdb()
    start = time.perf_counter()
    batch_id = (
        BatchManager()
        .batch([{"class": "bench.jobs.NoopJob", "args": {"i": i}} for i in range(m)])
        .dispatch()
    )
    ours = time.perf_counter() - start
    get_storage().delete_batches([uuid.UUID(batch_id)])
    queue.connection.flushdb()
    return raw, ours


def child(args: argparse.Namespace) -> None:
    _setup(args.db)
    from django.db import connection

    results = []
    for kind in args.workers:
        procs = _start_workers(WORKER_CLASSES[kind], args.n_workers)
        try:
            raws, ours = [], []
            for _ in range(args.repeat):  # alternate, so drift hits both alike
                raws.append(_raw_throughput(args.jobs))
                ours.append(_our_throughput(args.jobs))
        finally:
            _stop_workers(procs)
        results.append(
            {"bench": "throughput", "db": args.db, "worker": kind, "raw": raws, "ours": ours}
        )
    raws, ours = [], []
    for _ in range(args.repeat):
        raw, our = _dispatch(args.dispatch_jobs)
        raws.append(raw)
        ours.append(our)
    results.append({"bench": "dispatch", "db": args.db, "worker": "-", "raw": raws, "ours": ours})
    connection.close()
    print(json.dumps(results))


# ----------------------------------------------------------------------------- parent process


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--db", default="sqlite,postgres", help="any of sqlite, postgres, redis (Redis storage)"
    )
    parser.add_argument(
        "--workers", default=",".join(WORKER_CLASSES), help=f"any of {', '.join(WORKER_CLASSES)}"
    )
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--dispatch-jobs", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--n-workers", type=int, default=2)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.workers = args.workers.split(",")
    if args.child:
        child(args)
        return 0

    print(
        f"django-batchqueue benchmark: {args.n_workers} workers, {args.jobs} no-op jobs "
        f"(throughput), {args.dispatch_jobs} jobs (dispatch), median of {args.repeat} runs"
    )
    rows = []
    for db in args.db.split(","):
        cmd = [
            sys.executable,
            __file__,
            "--child",
            "--db",
            db,
            "--workers",
            ",".join(args.workers),
            "--jobs",
            str(args.jobs),
            "--dispatch-jobs",
            str(args.dispatch_jobs),
            "--repeat",
            str(args.repeat),
            "--n-workers",
            str(args.n_workers),
        ]
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if out.returncode != 0:
            print(out.stdout, out.stderr, sep="\n")
            return 1
        rows += json.loads(out.stdout.strip().splitlines()[-1])

    header = (
        f"{'benchmark':<11} {'db':<9} {'worker':<12} {'raw RQ s':>9} {'ours s':>9} "
        f"{'ratio':>6}  target  runs (ratio)"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        raw, ours = statistics.median(row["raw"]), statistics.median(row["ours"])
        ratio = ours / raw
        target = TARGETS[row["bench"]]
        runs = " ".join(f"{o / r:.2f}" for r, o in zip(row["raw"], row["ours"], strict=True))
        verdict = "ok" if ratio <= target else "OVER"
        print(
            f"{row['bench']:<11} {row['db']:<9} {row['worker']:<12} {raw:9.2f} {ours:9.2f} "
            f"{ratio:6.2f}  <={target:<4} {verdict:<4} {runs}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
