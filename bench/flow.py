"""Flow-control benchmarks: fair turns, the cost of the release window, Redis memory.

    python bench/flow.py                       # PostgreSQL, 2 BatchWorkers
    python bench/flow.py --db sqlite --worker batch-simple --big 2000

1. **Turn-taking**: a big no-op batch A is dispatched, then a 10-job batch B with on_complete;
   B's time from its dispatch until its callback ran, against B alone on idle workers. The
   same for raw RQ: A's jobs then B's 10 with ``enqueue_many`` (FIFO: B waits for all of A).
2. **Throughput cost**: a 2,000-job batch with on_complete with the default window, against
   the same batch with ``RELEASE_WINDOW: None`` (everything enqueued at dispatch).
   **Nesting cost**: the same 2,000-job batch as the middle step of a chain
   ``[noop, batch, noop]``, against it at the top level with on_complete.
3. **Redis memory**: ``used_memory`` growth while a 100,000-job batch runs, windowed against
   enqueue-all (sampled for ``--sample-seconds`` after dispatch, then the batch is cancelled).

Runs in one process per database (Django settings are per process); prints seconds, ratios
and MB. Figures vary on a shared machine: alternate runs with ``--repeat``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import WORKER_CLASSES, _queue, _setup, _start_workers, _stop_workers  # noqa: E402


def _settings(window: int | None) -> Any:
    from django.conf import settings
    from django.test import override_settings

    return override_settings(BATCHQUEUE={**settings.BATCHQUEUE, "RELEASE_WINDOW": window})


def _dispatch_noops(n: int, *, tag: str, callback: bool = True) -> str:
    from django_batchqueue import BatchManager

    builder = (
        BatchManager()
        .batch([{"class": "bench.jobs.NoopJob", "args": {"i": i}} for i in range(n)])
        .name(tag)
    )
    if callback:
        builder = builder.on_complete("bench.jobs.MarkDone")
    return builder.dispatch()


def _wait_done(batch_id: str, timeout: float = 1800) -> float:
    """When the batch's on_complete ran (its MarkDone timestamp)."""
    redis = _queue().connection
    key = f"bench:done:{batch_id}"
    deadline = time.monotonic() + timeout
    while not redis.exists(key):
        if time.monotonic() > deadline:
            raise RuntimeError(f"batch {batch_id} did not finish")
        time.sleep(0.002)
    return float(redis.get(key))


def _cancel_all() -> None:
    from django_batchqueue import BatchManager
    from django_batchqueue.models import Batch

    for batch_id in Batch.objects.filter(status__in=["pending", "running"]).values_list(
        "pk", flat=True
    ):
        BatchManager().cancel(batch_id)
    _queue().empty()


def _quiet() -> None:
    """Wait until the workers have nothing left to run."""
    from rq.registry import StartedJobRegistry

    queue = _queue()
    while queue.count or StartedJobRegistry(queue=queue).count:
        time.sleep(0.05)


def turn_taking(big: int) -> dict[str, float]:
    from rq import Queue

    with _settings(100):
        start = time.time()
        b = _dispatch_noops(10, tag="B alone")
        alone = _wait_done(b) - start
        _quiet()
        _dispatch_noops(big, tag="A", callback=False)
        start = time.time()
        b = _dispatch_noops(10, tag="B after A")
        after_a = _wait_done(b) - start
    _cancel_all()
    _quiet()
    queue = _queue()
    start = time.time()
    queue.enqueue_many([Queue.prepare_data("bench.jobs.noop", result_ttl=0) for _ in range(10)])
    last = queue.enqueue("bench.jobs.noop", result_ttl=60)
    while last.get_status(refresh=True) != "finished":
        time.sleep(0.002)
    raw_alone = time.time() - start
    queue.enqueue_many(
        [Queue.prepare_data("bench.jobs.noop", args=(i,), result_ttl=0) for i in range(big)]
    )
    start = time.time()
    queue.enqueue_many([Queue.prepare_data("bench.jobs.noop", result_ttl=0) for _ in range(10)])
    last = queue.enqueue("bench.jobs.noop", result_ttl=60)
    while last.get_status(refresh=True) != "finished":
        time.sleep(0.005)
    raw_after_a = time.time() - start
    return {
        "ours_alone": alone,
        "ours_after_a": after_a,
        "raw_alone": raw_alone,
        "raw_after_a": raw_after_a,
    }


def throughput(n: int) -> dict[str, float]:
    out = {}
    for label, window in (("window", 100), ("no_window", None)):
        with _settings(window):
            start = time.time()
            batch_id = _dispatch_noops(n, tag=f"throughput {label}")
            out[label] = _wait_done(batch_id) - start
        _quiet()
    return out


def nesting(n: int) -> dict[str, float]:
    """The same n-job batch at the top level, and as the middle step of a chain."""
    from django_batchqueue import batch, chain

    noops = [{"class": "bench.jobs.NoopJob", "args": {"i": i}} for i in range(n)]
    start = time.time()
    top = batch(noops).on_complete("bench.jobs.MarkDone").dispatch()
    top_s = _wait_done(top) - start
    _quiet()
    start = time.time()
    root = chain(["bench.jobs.NoopJob", batch(noops), "bench.jobs.MarkStep"]).dispatch()
    nested_s = _wait_done(root) - start
    _quiet()
    return {"top": top_s, "nested": nested_s}


def redis_memory(n: int, sample_seconds: float) -> dict[str, float]:
    redis = _queue().connection
    out = {}
    for label, window in (("window", 100), ("no_window", None)):
        _quiet()
        redis.execute_command("MEMORY", "PURGE")
        before = int(redis.info("memory")["used_memory"])
        with _settings(window):
            _dispatch_noops(n, tag=f"memory {label}", callback=False)
        peak = before
        deadline = time.monotonic() + sample_seconds
        while time.monotonic() < deadline:
            peak = max(peak, int(redis.info("memory")["used_memory"]))
            time.sleep(0.2)
        out[label] = (peak - before) / 1e6
        _cancel_all()
    return out


def child(args: argparse.Namespace) -> None:
    _setup(args.db)
    results: dict[str, Any] = {"db": args.db, "worker": args.worker}
    procs = _start_workers(WORKER_CLASSES[args.worker], args.n_workers)
    try:
        results["turns"] = [turn_taking(args.big) for _ in range(args.repeat)]
        results["throughput"] = [throughput(args.jobs) for _ in range(args.repeat)]
        results["nesting"] = [nesting(args.jobs) for _ in range(args.repeat)]
        results["memory"] = redis_memory(args.memory_jobs, args.sample_seconds)
    finally:
        _stop_workers(procs)
    print(json.dumps(results))


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def report(r: dict[str, Any]) -> None:
    t = r["turns"]
    ours = _median(t, "ours_after_a") / _median(t, "ours_alone")
    raw = _median(t, "raw_after_a") / _median(t, "raw_alone")
    print(f"\n{r['db']}, {r['worker']} workers")
    print(
        f"turn-taking: B alone {_median(t, 'ours_alone'):.3f} s, after A "
        f"{_median(t, 'ours_after_a'):.3f} s: {ours:.2f}x (target <= 3); raw RQ "
        f"{_median(t, 'raw_alone'):.3f} s -> {_median(t, 'raw_after_a'):.3f} s: {raw:.2f}x"
    )
    print(
        "  runs (ours after A / alone): "
        + " ".join(f"{x['ours_after_a'] / x['ours_alone']:.2f}" for x in t)
    )
    th = r["throughput"]
    ratio = _median(th, "window") / _median(th, "no_window")
    print(
        f"throughput: window {_median(th, 'window'):.2f} s, no window "
        f"{_median(th, 'no_window'):.2f} s: {ratio:.3f} (target <= 1.05); runs "
        + " ".join(f"{x['window'] / x['no_window']:.3f}" for x in th)
    )
    ne = r["nesting"]
    ratio = _median(ne, "nested") / _median(ne, "top")
    print(
        f"nesting: batch at the top {_median(ne, 'top'):.2f} s, as a chain's middle step "
        f"{_median(ne, 'nested'):.2f} s: {ratio:.3f} (target <= 1.05); runs "
        + " ".join(f"{x['nested'] / x['top']:.3f}" for x in ne)
    )
    m = r["memory"]
    print(
        f"Redis used_memory growth: window {m['window']:.1f} MB, enqueue-all "
        f"{m['no_window']:.1f} MB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="postgres")
    parser.add_argument("--worker", default="batch-fork", choices=sorted(WORKER_CLASSES))
    parser.add_argument("--n-workers", type=int, default=2)
    parser.add_argument("--big", type=int, default=5000, help="jobs of batch A")
    parser.add_argument("--jobs", type=int, default=2000, help="jobs of the throughput batch")
    parser.add_argument("--memory-jobs", type=int, default=100_000)
    parser.add_argument("--sample-seconds", type=float, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    for db in args.db.split(","):
        cmd = [sys.executable, __file__, "--child", "--db", db] + [
            f"--{k.replace('_', '-')}={v}"
            for k, v in vars(args).items()
            if k not in ("child", "db")
        ]
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if out.returncode != 0:
            print(out.stdout, out.stderr, sep="\n")
            return 1
        report(json.loads(out.stdout.strip().splitlines()[-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
