"""Hot row: one batch completed by P concurrent processes, against P batches, on PostgreSQL.

    python bench/hot_row.py                        # 32 processes, 200 completions each
    python bench/hot_row.py --via record --sync    # the worker's whole record path, sync commits

Each process claims its rows first (``claim_and_load``, untimed), then all start together and
record a success for every row through ``get_storage().complete_and_count`` (the statement
that completes a parallel job and moves its batch's counter: what a worker runs per job), or
with ``--via record`` through ``recording.record`` (the same plus settling at the end, exactly
as a worker records an outcome). Reported: completions per second from the first process's
start to the last one's end, for P processes on ONE batch (every completion updates the same
batch row) and on P batches (one each), alternating ``--repeat`` rounds; the ratio one/many
is the target's (at least 0.8). ``--sync`` makes these commits synchronous
(``ASYNC_JOB_COMMITS: False``); by default they are asynchronous, as the library ships.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing as mp
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BENCH_REDIS", "redis://127.0.0.1:6379/9")
os.environ.setdefault("BENCH_PG_NAME", "batchqueue_bench16_hot")

from bench.run import _setup  # noqa: E402


def _tuning(sync: bool) -> Any:
    from django.conf import settings
    from django.test import override_settings

    return override_settings(
        BATCHQUEUE={**settings.BATCHQUEUE, "RELEASE_WINDOW": None, "ASYNC_JOB_COMMITS": not sync}
    )


def _make_batches(n_batches: int, jobs_each: int) -> list[list[str]]:
    """Dispatch the batches (every row queued), drop their RQ messages: row ids per batch."""
    from django_batchqueue import BatchManager
    from django_batchqueue.execution.queues import get_queue
    from django_batchqueue.models import BatchJob

    out = []
    for _ in range(n_batches):
        batch_id = (
            BatchManager()
            .batch([{"class": "bench.jobs.NoopJob", "args": {"i": i}} for i in range(jobs_each)])
            .dispatch()
        )
        ids = BatchJob.objects.filter(batch_id=batch_id, kind="job").values_list("pk", flat=True)
        out.append([str(pk) for pk in ids])
    get_queue("batchjob").connection.flushdb()  # no worker listens on our DB meanwhile
    return out


def _complete(rows: list[str], via: str, sync: bool, barrier: Any, out: Any) -> None:
    """One process: claim every row, wait for the others, then record each completion."""
    from django.db import connections

    from django_batchqueue.execution import recording
    from django_batchqueue.storage import get_storage

    with _tuning(sync):
        storage = get_storage()
        worker = f"hot-row-{os.getpid()}"
        claimed = [storage.claim_and_load(row_id, None, worker) for row_id in rows]
        records = [row for row in claimed if row is not None]
        success = recording.Outcome.success(None, None)
        barrier.wait()
        start = time.perf_counter()
        for row in records:
            if via == "record":
                recording.record(row, success)
            else:
                storage.complete_and_count(row, None)
        end = time.perf_counter()
    connections.close_all()
    out.put((start, end, len(records)))


def _sample_waits(stop: threading.Event, out: collections.Counter[str]) -> None:
    """What our database's active backends wait on, every 20 ms (pg_stat_activity)."""
    import psycopg
    from django.db import connections

    params = connections["default"].get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    query = (
        "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU'), count(*) "
        "FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND state = 'active' GROUP BY 1"
    )
    with psycopg.connect(**params, autocommit=True) as conn:
        while not stop.wait(0.02):
            out["samples"] += 1
            for event, n in conn.execute(query).fetchall():
                out[event] += n


def _round(groups: list[list[str]], via: str, sync: bool) -> tuple[float, dict[str, float]]:
    """Completions per second of len(groups) processes, one list of rows each, and how many
    backends waited on what, on average (``Lock:*`` is waiting for another's row lock)."""
    from django.db import connections

    connections.close_all()  # children open their own
    ctx = mp.get_context("fork")
    barrier, out = ctx.Barrier(len(groups)), ctx.Queue()
    procs = [ctx.Process(target=_complete, args=(rows, via, sync, barrier, out)) for rows in groups]
    for proc in procs:
        proc.start()
    stop, waits = threading.Event(), collections.Counter[str]()
    sampler = threading.Thread(target=_sample_waits, args=(stop, waits), daemon=True)
    sampler.start()
    spans = [out.get(timeout=600) for _ in procs]
    stop.set()
    sampler.join()
    for proc in procs:
        proc.join()
    done = sum(n for _, _, n in spans)
    expected = sum(len(rows) for rows in groups)
    if done != expected:
        raise RuntimeError(f"{done} of {expected} rows were claimed")
    samples = max(1, waits.pop("samples", 0))
    return (
        done / (max(e for _, e, _ in spans) - min(s for s, _, _ in spans)),
        {event: n / samples for event, n in waits.items()},
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=32)
    parser.add_argument("--per-process", type=int, default=200, help="completions each")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--via", choices=["storage", "record"], default="storage")
    parser.add_argument("--sync", action="store_true", help="synchronous commits")
    args = parser.parse_args()
    _setup("postgres")
    p, k = args.processes, args.per_process
    one: list[float] = []
    many: list[float] = []
    waits: dict[str, list[dict[str, float]]] = {"one": [], "many": []}
    for _ in range(args.repeat):  # alternate, so drift hits both alike
        with _tuning(args.sync):
            (rows,) = _make_batches(1, p * k)
        rate, wait = _round([rows[i * k : (i + 1) * k] for i in range(p)], args.via, args.sync)
        one.append(rate)
        waits["one"].append(wait)
        with _tuning(args.sync):
            groups = _make_batches(p, k)
        rate, wait = _round(groups, args.via, args.sync)
        many.append(rate)
        waits["many"].append(wait)
        print(f"  round: one batch {one[-1]:.0f}/s, {p} batches {many[-1]:.0f}/s", flush=True)
    commits = "synchronous" if args.sync else "asynchronous"
    ratio = statistics.median(one) / statistics.median(many)
    print(
        f"hot row, PostgreSQL, {p} processes x {k} completions via {args.via}, {commits} "
        f"commits, median of {args.repeat} alternating rounds ({os.cpu_count()} shared cores)"
    )
    print(f"  one batch:      {statistics.median(one):8.0f} completions/s  runs {_fmt(one)}")
    print(f"  {p} batches:    {statistics.median(many):8.0f} completions/s  runs {_fmt(many)}")
    verdict = "ok" if ratio >= 0.8 else "UNDER"
    runs = " ".join(f"{a / b:.2f}" for a, b in zip(one, many, strict=True))
    print(f"  one / many:     {ratio:8.2f} (target >= 0.8) {verdict}  runs {runs}")
    print("  active backends by wait event (mean over 20 ms samples, all rounds):")
    for label, rounds in waits.items():
        mean = {e: sum(w.get(e, 0) for w in rounds) / len(rounds) for w in rounds for e in w}
        text = ", ".join(f"{e} {n:.1f}" for e, n in sorted(mean.items(), key=lambda x: -x[1]))
        print(f"    {'one batch' if label == 'one' else f'{p} batches'}: {text}")
    return 0


def _fmt(values: list[float]) -> str:
    return " ".join(f"{v:.0f}" for v in values)


if __name__ == "__main__":
    sys.exit(main())
