"""Where a worker's time goes: py-spy on one worker while a no-op batch runs, split by concern.

    python bench/where_time_goes.py                           # PostgreSQL, 2 BatchWorkers
    python bench/where_time_goes.py --worker batch-simple --db sqlite --jobs 1000
    python bench/where_time_goes.py --worker batch-persistent --n-workers 1 --chain --jobs 300
    python bench/where_time_goes.py --split .local/profile-batch-fork-postgres.txt

Starts ``--n-workers`` workers, attaches ``py-spy record --idle --format raw`` to the first one
(with ``--subprocesses`` for a forking worker, so its work horses are sampled too), dispatches
``--jobs`` no-op jobs with ``on_complete`` and waits for the callback. Wall-clock samples
(``--idle``: waiting on Redis, PostgreSQL or a horse counts) are then put in buckets by the
first rule that matches the sampled stack (``RULES``, most specific first), per process kind
(the worker's parent, its horses). ``ms/job`` divides a bucket's samples by the jobs this worker
ran (its RQ ``successful_job_count``).
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BENCH_REDIS", "redis://127.0.0.1:6379/9")
os.environ.setdefault("BENCH_PG_NAME", "batchqueue_bench16_prof")

PERSISTENT = "django_batchqueue.worker.PersistentBatchWorker"

#: (bucket, where, substrings): the first rule with a substring in the stack ("any") or in its
#: innermost frame ("leaf") wins, so the most specific come first.
RULES: list[tuple[str, str, tuple[str, ...]]] = [
    ("ours: claim: claim_and_load", "any", ("claim_and_load",)),
    ("ours: claim: other", "any", ("claim_for_horse", "claim (django_batchqueue")),
    ("ours: record: complete_and_count", "any", ("complete_and_count",)),
    ("ours: record: flow (window top-up, next chain step)", "any", ("release_waiting", "flow.py")),
    ("ours: record: enqueue, settle, other", "any", ("_record_outcome", "record (django_bat")),
    ("ours: reconcile", "any", ("reconcile_now",)),
    ("fork (os.fork in the parent)", "leaf", ("fork_work_horse (",)),
    ("waiting for the horse (wait4)", "any", ("wait_for_horse (",)),
    ("waiting for a job (dequeue)", "any", ("dequeue_job_and_maintain_ttl",)),
    ("logging", "any", ("logging/__init__.py",)),
    ("ours: runner, handoff (the run)", "any", ("django_batchqueue/execution",)),
    ("RQ: Redis round trips", "any", ("redis/",)),
    ("Django / psycopg, other", "any", ("django/db", "psycopg/")),
    ("RQ / Python other", "any", ("",)),
]


def bucket(frames: list[str]) -> str:
    if not frames:
        return "(no Python frame: starting or exiting)"
    stack = ";".join(frames)
    for name, where, needles in RULES:
        text = frames[-1] if where == "leaf" else stack
        if any(n in text for n in needles):
            return name
    raise AssertionError("the last rule matches everything")


def split(path: Path) -> dict[str, collections.Counter[str]]:
    """Samples per bucket, for the worker's main thread ("parent"), its forked "horse"
    processes, and its other threads (RQ's pubsub listener, our heartbeat: idle, apart).

    py-spy's raw format is one ``frame;frame;... count`` line per distinct stack, its first
    frames naming the processes (``process PID:"cmdline"``); a horse has one more of them.
    """
    rows = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            frames = stack.split(";")
            depth = sum(1 for f in frames if f.startswith("process "))
            rows.append((depth, [f for f in frames if not f.startswith("process ")], int(count)))
    # A stray line without a process frame (py-spy writes one while attaching) is not the
    # parent; a profile with no process frames at all (no --subprocesses) is all parent.
    framed = [depth for depth, _, _ in rows if depth > 0]
    top = min(framed) if framed else 0
    out: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for level, stack_frames, samples in rows:
        if level == 0 and framed:
            continue
        if stack_frames and "_bootstrap (threading.py" in stack_frames[0]:
            kind = "other threads (not in ms/job)"
        else:
            kind = "parent" if level == top else "horse"
        out[kind][bucket(stack_frames)] += samples
    return out


def print_split(parts: dict[str, collections.Counter[str]], rate: int, jobs: int | None) -> None:
    for kind in ("parent", "horse", "other threads (not in ms/job)"):
        counter = parts.get(kind)
        if not counter:
            continue
        n = sum(counter.values())
        print(f"\n{kind}: {n / rate:.1f} s of wall-clock samples")
        for name, samples in counter.most_common():
            per_job = f"{1000 * samples / rate / jobs:7.2f} ms/job" if jobs else ""
            print(f"  {name:<44} {100 * samples / n:5.1f}%  {per_job}")


def record(args: argparse.Namespace) -> tuple[Path, int]:
    from rq import Worker

    from bench.run import WORKER_CLASSES, _queue, _setup, _start_workers, _stop_workers
    from django_batchqueue import BatchManager

    _setup(args.db)
    classes = {**WORKER_CLASSES, "batch-persistent": PERSISTENT}
    procs = _start_workers(classes[args.worker], args.n_workers)
    shape = "-chain" if args.chain else ""
    out = ROOT / ".local" / f"profile-{args.worker}-{args.db}{shape}.txt"
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    cmd = [spy, "record", "--idle", "--nonblocking", "--format", "raw", "-r", str(args.rate)]
    cmd += ["-o", str(out), "-p", str(procs[0].pid)]
    if args.worker in ("batch-fork", "fork", "batch-persistent"):
        cmd.append("--subprocesses")
    try:
        sampler = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        build = BatchManager().chain if args.chain else BatchManager().batch
        batch_id = (
            build([{"class": "bench.jobs.NoopJob", "args": {"i": i}} for i in range(args.jobs)])
            .on_complete("bench.jobs.MarkDone")
            .dispatch()
        )
        redis = _queue().connection
        while not redis.exists(f"bench:done:{batch_id}"):
            time.sleep(0.05)
        sampler.send_signal(signal.SIGINT)
        sampler.wait(timeout=60)
        me = next(w for w in Worker.all(queue=_queue()) if w.pid == procs[0].pid)
        jobs = me.successful_job_count
    finally:
        _stop_workers(procs)
    return out, jobs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="postgres", choices=["postgres", "sqlite", "redis"])
    parser.add_argument("--worker", default="batch-fork")
    parser.add_argument("--n-workers", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--chain", action="store_true", help="a chain of --jobs steps instead")
    parser.add_argument("--rate", type=int, default=200, help="samples per second")
    parser.add_argument("--split", help="only split an existing py-spy raw file")
    parser.add_argument("--worker-jobs", type=int, help="with --split: jobs that worker ran")
    args = parser.parse_args()
    if args.split:
        print_split(split(Path(args.split)), args.rate, args.worker_jobs)
        return 0
    path, jobs = record(args)
    print(f"{args.worker} on {args.db}: worker 1 of {args.n_workers} ran {jobs} jobs; {path}")
    print_split(split(path), args.rate, jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
