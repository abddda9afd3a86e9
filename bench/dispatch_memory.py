"""Where a big ``dispatch()``'s memory goes: tracemalloc at its peak, by file.

    python bench/dispatch_memory.py 100000          # PostgreSQL, BENCH_PG_NAME's database
    python bench/dispatch_memory.py 100000 --rss    # peak RSS only (no tracemalloc)

Sets Django up on an already migrated bench database (run bench/memory.py first, or
``bench/run.py``), builds N job dicts, and dispatches them with ``on_complete``; RQ's
``enqueue_many`` is replaced by a no-op so no message reaches Redis (workers of other benches
may listen there). A snapshot is taken just before ``storage.create_batch`` and its allocations
are listed by file; the peak over the whole ``dispatch()`` (rows are built while the COPY reads
them) is printed too. ``--rss``: no tracemalloc (it costs memory itself); the process's peak
RSS (``VmHWM``) after building the job dicts and after ``dispatch()``. The batch is deleted
afterwards.
"""

from __future__ import annotations

import os
import sys
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
os.environ.setdefault("BENCH_DB", "postgres")
os.environ.setdefault("BENCH_PG_NAME", "batchqueue_bench16_mem")
os.environ.setdefault("BENCH_REDIS", "redis://127.0.0.1:6379/9")


def main() -> int:
    import django

    django.setup()
    import rq

    from django_batchqueue import BatchManager
    from django_batchqueue.models import Batch
    from django_batchqueue.storage import get_storage

    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 100_000
    rq.Queue.enqueue_many = lambda self, *a, **k: []  # type: ignore[method-assign]
    if "--rss" in sys.argv:
        specs = [{"class": "bench.jobs.NoopJob", "args": {"i": i}} for i in range(n)]
        before = _peak_rss_mb()
        batch_id = BatchManager().batch(specs).on_complete("bench.jobs.MarkDone").dispatch()
        after = _peak_rss_mb()
        print(f"{n} jobs: peak RSS {before:.0f} MB with the job dicts built, {after:.0f} MB after")
        print(f"dispatch() (+{after - before:.0f} MB, {(after - before) * 1e6 / n:.0f} B/job)")
        Batch.objects.filter(pk=batch_id).delete()
        return 0
    storage: Any = get_storage()
    create_batch = storage.create_batch
    at_peak: dict[str, Any] = {}

    def snapshot_then_create(batch: Any, jobs: Any) -> None:
        at_peak["snapshot"] = tracemalloc.take_snapshot()
        at_peak["traced"] = tracemalloc.get_traced_memory()[0]
        create_batch(batch, jobs)

    storage.create_batch = snapshot_then_create
    tracemalloc.start()
    specs = [{"class": "bench.jobs.NoopJob", "args": {"i": i}} for i in range(n)]
    before = tracemalloc.get_traced_memory()[0]
    print(f"{n} job dicts (the caller's list): {before / 1e6:.1f} MB")
    tracemalloc.reset_peak()
    batch_id = BatchManager().batch(specs).on_complete("bench.jobs.MarkDone").dispatch()
    peak = tracemalloc.get_traced_memory()[1]
    per_job = (peak - before) / n
    print(f"peak during batch() + dispatch(): {peak / 1e6:.1f} MB ({per_job:.0f} B/job more)")
    print(f"traced just before create_batch: {at_peak['traced'] / 1e6:.1f} MB, by file:")
    for stat in at_peak["snapshot"].statistics("filename")[:8]:
        name = stat.traceback[0].filename.replace(str(ROOT) + "/", "")
        print(f"  {stat.size / 1e6:7.1f} MB  {name.rsplit('site-packages/', 1)[-1]}")
    Batch.objects.filter(pk=batch_id).delete()
    return 0


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    sys.exit(main())
