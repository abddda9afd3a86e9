"""Memory at scale: the dispatching process's peak RSS and a worker's RSS, at 10k and 100k jobs.

    python bench/memory.py                                  # PostgreSQL, 2 SimpleBatchWorkers
    python bench/memory.py --sizes 10000 --worker batch-fork --db sqlite

For each size, a fresh process sets up Django, starts the workers, dispatches a parallel batch
of no-op jobs with ``on_complete`` and waits for the callback, with the library's defaults
(release window included). Reported in MB: the dispatching process's peak RSS (``VmHWM``)
before and after ``dispatch()`` and at the end, and each worker's RSS (``VmRSS``) once started,
the highest seen while the batch ran (sampled every second) and its own peak (``VmHWM``) at the
end. For ``BatchWorker`` these are the parent's (the work horses are forked per job and exit).
``--max-seconds`` stops waiting for a batch that takes longer (the report then says how many
jobs had completed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BENCH_REDIS", "redis://127.0.0.1:6379/9")
os.environ.setdefault("BENCH_PG_NAME", "batchqueue_bench16_mem")

from bench.run import WORKER_CLASSES, _setup, _start_workers, _stop_workers  # noqa: E402


def status_mb(pid: int | str, field: str) -> float:
    """``VmRSS`` or ``VmHWM`` of a process, in MB, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def measure(size: int, worker: str, n_workers: int, max_seconds: float) -> dict[str, Any]:
    from django_batchqueue import BatchManager
    from django_batchqueue.execution.queues import get_queue

    procs = _start_workers(WORKER_CLASSES[worker], n_workers)
    try:
        pids = [p.pid for p in procs]
        out: dict[str, Any] = {"size": size, "worker": worker}
        out["worker_start"] = [status_mb(pid, "VmRSS") for pid in pids]
        out["dispatcher_before"] = status_mb("self", "VmHWM")
        start = time.perf_counter()
        batch_id = (
            BatchManager()
            .batch([{"class": "bench.jobs.NoopJob", "args": {"i": i}} for i in range(size)])
            .on_complete("bench.jobs.MarkDone")
            .dispatch()
        )
        out["dispatch_s"] = time.perf_counter() - start
        out["dispatcher_after_dispatch"] = status_mb("self", "VmHWM")
        redis, key = get_queue("batchjob").connection, f"bench:done:{batch_id}"
        worker_max = list(out["worker_start"])
        deadline = time.monotonic() + max_seconds
        while not redis.exists(key) and time.monotonic() < deadline:
            time.sleep(1)
            worker_max = [
                max(m, status_mb(pid, "VmRSS")) for m, pid in zip(worker_max, pids, strict=True)
            ]
        out["finished"] = bool(redis.exists(key))
        out["run_s"] = time.perf_counter() - start
        progress = BatchManager().get_progress(batch_id) or {}
        out["completed_jobs"] = progress.get("completed_jobs")
        out["worker_max"] = worker_max
        out["worker_hwm"] = [status_mb(pid, "VmHWM") for pid in pids]
        out["dispatcher_end"] = status_mb("self", "VmHWM")
        if not out["finished"]:
            BatchManager().cancel(batch_id)
        return out
    finally:
        _stop_workers(procs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="postgres", choices=["postgres", "sqlite"])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--worker", default="batch-simple", choices=sorted(WORKER_CLASSES))
    parser.add_argument("--n-workers", type=int, default=2)
    parser.add_argument("--max-seconds", type=float, default=3600)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _setup(args.db)
        print(json.dumps(measure(args.child, args.worker, args.n_workers, args.max_seconds)))
        return 0
    print(
        f"memory, {args.db}, {args.n_workers} x {args.worker}, a fresh dispatching process "
        f"per size; MB ({os.cpu_count()} shared cores)"
    )
    print(
        f"{'jobs':>7} {'dispatch s':>10} {'run s':>7} {'done':>7}  dispatcher peak "
        f"before/after dispatch/end   worker RSS start -> max (VmHWM)"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        cmd = [sys.executable, __file__, "--child", str(size), "--db", args.db]
        cmd += ["--worker", args.worker, "--n-workers", str(args.n_workers)]
        cmd += ["--max-seconds", str(args.max_seconds)]
        proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            print(proc.stdout)
            return 1
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        workers = ", ".join(
            f"{a:.0f} -> {b:.0f} ({c:.0f})"
            for a, b, c in zip(r["worker_start"], r["worker_max"], r["worker_hwm"], strict=True)
        )
        print(
            f"{size:>7} {r['dispatch_s']:>10.2f} {r['run_s']:>7.0f} {r['completed_jobs']:>7}  "
            f"{r['dispatcher_before']:>6.0f} / {r['dispatcher_after_dispatch']:>6.0f} / "
            f"{r['dispatcher_end']:>6.0f}          {workers}"
            + ("" if r["finished"] else "  (stopped waiting)")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
