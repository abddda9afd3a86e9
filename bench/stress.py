"""Concurrency stress run: many workers, racing completions, additions and cancels.

    python bench/stress.py --workers 4 --rounds 3          # against PostgreSQL (default)

Starts N ``manage.py rqworker batchjob`` processes (BatchWorker) and, each round, runs at once:
a parallel batch of --big no-op jobs (all workers finishing jobs back to back on one batch row),
--chains chains, batches whose completion races with ``add_jobs`` from another thread, and
batches cancelled (half of them with compensation) while their jobs run. Then it checks:
counters match the rows exactly, every callback ran exactly once, no job ran twice, every job
added was run or its addition raised, cancelled jobs never ran, and no row is left orphaned.
Exit status 1 if any check fails.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JOB = "bench.stress_jobs.StressJob"
STEP = "bench.stress_jobs.StressStep"
CALLBACK = "bench.stress_jobs.StressCallback"
UNDO = "bench.stress_jobs.StressUndo"


@dataclass
class Plan:
    """Batches of one round and what the racing threads did to them."""

    batch_ids: list[str] = field(default_factory=list)
    added: dict[str, list[str]] = field(default_factory=dict)  # batch -> job ids added
    add_refused: int = 0
    cancelled: dict[str, bool] = field(default_factory=dict)  # batch -> compensate
    cancel_too_late: int = 0


def callbacks(builder):
    return builder.on_complete({"class": CALLBACK, "args": {"tag": "on_complete"}}).on_failure(
        {"class": CALLBACK, "args": {"tag": "on_failure"}}
    )


def dispatch_round(manager, *, big: int, chains: int, races: int, rng: random.Random) -> Plan:
    from django_batchqueue.exceptions import BatchClosed

    plan = Plan()
    plan.batch_ids.append(
        callbacks(
            manager.batch([{"class": JOB, "args": {"i": i}} for i in range(big)]).name("stress-big")
        ).dispatch()
    )
    for c in range(chains):
        plan.batch_ids.append(
            callbacks(
                manager.chain([{"class": STEP, "args": {"name": f"s{k}"}} for k in range(5)]).name(
                    f"chain-{c}"
                )
            ).dispatch()
        )

    def add_until_closed(batch_id: str) -> None:
        """Add a few jobs, then keep adding exactly as the batch is about to finish, until an
        addition is refused because the batch completed first."""
        added = plan.added.setdefault(batch_id, [])
        for _ in range(5):
            added += manager.add_jobs(batch_id, [{"class": JOB, "args": {"i": -1}}])
            time.sleep(rng.random() * 0.02)
        deadline, late_adds = time.monotonic() + 300, 0
        while time.monotonic() < deadline and late_adds < 10:
            progress = manager.get_progress(batch_id)
            if progress["pending_jobs"] > 0 and progress["status"] in ("pending", "running"):
                time.sleep(0.001)
                continue  # add exactly when the last job has finished: racing the settle
            try:
                added += manager.add_jobs(batch_id, [{"class": JOB, "args": {"i": -2}}])
                late_adds += 1
            except BatchClosed:
                plan.add_refused += 1
                return

    threads = []
    for r in range(races):
        batch_id = callbacks(
            manager.batch([{"class": JOB, "args": {"i": i}} for i in range(10)]).name(
                f"add-race-{r}"
            )
        ).dispatch()
        plan.batch_ids.append(batch_id)
        threads.append(threading.Thread(target=add_until_closed, args=(batch_id,)))
    for r in range(races):
        batch_id = callbacks(
            manager.batch(
                [
                    {"class": JOB, "args": {"i": i, "sleep": 0.005}, "compensation": UNDO}
                    for i in range(40)
                ]
            ).name(f"cancel-race-{r}")
        ).dispatch()
        plan.batch_ids.append(batch_id)
        compensate = r % 2 == 0

        def cancel_later(batch_id=batch_id, compensate=compensate) -> None:
            # Wait until its jobs are running, then cancel at a random moment.
            deadline = time.monotonic() + 300
            while manager.get_progress(batch_id)["completed_jobs"] < 2:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.005)
            time.sleep(rng.random() * 0.1)
            if manager.cancel(batch_id, compensate=compensate):
                plan.cancelled[batch_id] = compensate
            else:
                plan.cancel_too_late += 1

        threads.append(threading.Thread(target=cancel_later))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return plan


def _batches(batch_ids: list[str]) -> list:
    """The batches, read through storage (SQL or Redis alike)."""
    import uuid

    from django_batchqueue.storage import get_storage

    storage = get_storage()
    found = (storage.get_batch(uuid.UUID(str(b))) for b in batch_ids)
    return [b for b in found if b is not None]


def _rows(batch_id: object) -> list:
    """Every row of the batch (jobs, callbacks, compensations), read through storage."""
    import uuid

    from django_batchqueue.storage import get_storage
    from django_batchqueue.storage.base import JobQuery

    query = JobQuery(batch_id=uuid.UUID(str(batch_id)), kind=None)
    return get_storage().list_jobs(query, 0, 10_000_000)


def wait_settled(batch_ids: list[str], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batches = _batches(batch_ids)
        open_ = [b for b in batches if b.status in ("pending", "running")]
        if not open_ and not any(
            r.status in ("pending", "queued", "running") for b in batches for r in _rows(b.pk)
        ):
            return True
        time.sleep(0.2)
    return False


def check(plan: Plan) -> tuple[list[str], Counter]:
    """Every invariant; returns (problems, figures)."""
    from django_batchqueue.execution.queues import get_queue

    redis = get_queue("batchjob").connection
    problems: list[str] = []
    figures: Counter = Counter()
    for batch in _batches(plan.batch_ids):
        bid = str(batch.pk)
        rows = [
            {"id": r.id, "kind": r.kind, "status": r.status, "event": r.event}
            for r in _rows(batch.pk)
        ]
        jobs = [r for r in rows if r["kind"] == "job"]
        status = Counter(r["status"] for r in jobs)
        figures["batches"] += 1
        figures["jobs"] += len(jobs)
        figures[f"batches_{batch.status}"] += 1
        if batch.status in ("pending", "running"):
            problems.append(f"{bid} ({batch.name}) never finished: {batch.status}")
        if (batch.total_jobs, batch.completed_jobs, batch.failed_jobs, batch.cancelled_jobs) != (
            len(jobs),
            status["completed"],
            status["failed"],
            status["cancelled"],
        ):
            problems.append(
                f"{bid} counters {batch.total_jobs}/{batch.completed_jobs}/"
                f"{batch.failed_jobs}/{batch.cancelled_jobs} != rows {len(jobs)}/"
                f"{status['completed']}/{status['failed']}/{status['cancelled']}"
            )
        left = [r for r in rows if r["status"] in ("pending", "queued", "running")]
        if left:
            problems.append(f"{bid} has {len(left)} orphaned row(s)")
        runs = {k.decode(): int(v) for k, v in redis.hgetall(f"stress:runs:{bid}").items()}
        for r in jobs:
            n = runs.get(str(r["id"]), 0)
            figures["runs"] += n
            if n > 1:
                problems.append(f"{bid} job {r['id']} ran {n} times")
            if r["status"] == "completed" and n != 1:
                problems.append(f"{bid} job {r['id']} completed but ran {n} times")
            if r["status"] == "cancelled" and n != 0:
                problems.append(f"{bid} job {r['id']} was cancelled but ran")
        calls = {k.decode(): int(v) for k, v in redis.hgetall(f"stress:callbacks:{bid}").items()}
        expected = {"completed": {"on_complete": 1}, "failed": {"on_failure": 1}, "cancelled": {}}[
            batch.status
        ]
        if calls != expected:
            problems.append(f"{bid} ({batch.status}) callbacks ran {calls}, expected {expected}")
        figures["callbacks"] += sum(calls.values())
        for job_id in plan.added.get(bid, []):
            figures["added"] += 1
            if runs.get(job_id) != 1:
                problems.append(f"{bid} added job {job_id} ran {runs.get(job_id, 0)} times")
        if bid in plan.cancelled and batch.status != "cancelled":
            problems.append(f"{bid} was cancelled but is {batch.status}")
        undone = {k.decode(): int(v) for k, v in redis.hgetall(f"stress:undo:{bid}").items()}
        figures["compensations"] += sum(undone.values())
        compensate = plan.cancelled.get(bid, False)
        for r in jobs:
            n = undone.get(str(r["id"]), 0)
            want = 1 if (compensate and r["status"] == "completed") else 0
            if n != want:
                problems.append(
                    f"{bid} job {r['id']} ({r['status']}) compensated {n} times, expected {want}"
                )
        want_status = "completed" if compensate and status["completed"] else None
        if batch.compensation_status != want_status:
            problems.append(
                f"{bid} compensation_status {batch.compensation_status}, expected {want_status}"
            )
    figures["add_refused"] += plan.add_refused
    figures["cancelled"] += len(plan.cancelled)
    figures["cancel_too_late"] += plan.cancel_too_late
    return problems, figures


def start_workers(n: int, worker_class: str, env: dict[str, str]) -> list[subprocess.Popen]:
    logs = ROOT / ".local" / "stress-logs"
    logs.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        str(ROOT / "manage.py"),
        "rqworker",
        "batchjob",
        "--worker-class",
        worker_class,
    ]
    procs = []
    for i in range(n):
        log = open(logs / f"worker-{i}.log", "w")  # noqa: SIM115
        procs.append(
            subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        )
    return procs


def stop_workers(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="postgres")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--worker-class", default="django_batchqueue.worker.BatchWorker")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--big", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=50)
    parser.add_argument("--races", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    os.environ["BENCH_DB"] = args.db
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    sys.path.insert(0, str(ROOT))
    sys.argv = [sys.argv[0]]
    from bench.run import _setup

    _setup(args.db)
    from django_batchqueue import BatchManager
    from django_batchqueue.execution.queues import get_queue

    get_queue("batchjob").connection.flushdb()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = start_workers(args.workers, args.worker_class, env)
    rng = random.Random(args.seed)
    manager = BatchManager()
    total: Counter = Counter()
    all_problems: list[str] = []
    try:
        for n in range(1, args.rounds + 1):
            started = time.monotonic()
            plan = dispatch_round(
                manager, big=args.big, chains=args.chains, races=args.races, rng=rng
            )
            settled = wait_settled(plan.batch_ids, timeout=600)
            problems, figures = check(plan)
            if not settled:
                problems.insert(0, "round did not settle within 600 s")
            total += figures
            all_problems += problems
            print(
                f"round {n}: {figures['batches']} batches, {figures['jobs']} jobs, "
                f"{figures['runs']} runs, {figures['callbacks']} callbacks, "
                f"{figures['compensations']} compensations, "
                f"{figures['added']} added ({figures['add_refused']} adds refused after "
                f"completion), {figures['cancelled']} cancelled mid-run "
                f"({figures['cancel_too_late']} too late), {time.monotonic() - started:.1f}s"
                f" - {'OK' if not problems else f'{len(problems)} PROBLEM(S)'}"
            )
            for p in problems[:20]:
                print("   ", p)
    finally:
        stop_workers(procs)
    print(
        f"total: {total['batches']} batches, {total['jobs']} jobs, {total['runs']} job runs, "
        f"{total['callbacks']} callbacks; duplicates/lost/orphans/extra callbacks found: "
        f"{len(all_problems)}"
    )
    return 1 if all_problems else 0


if __name__ == "__main__":
    sys.exit(main())
