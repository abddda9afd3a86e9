"""Tables for bench/compare.py's results: medians, and ours against Celery and raw RQ."""

from __future__ import annotations

import statistics
from typing import Any

#: (phase, ours, other, target or None): the ratios the issue asks about.
RATIOS: list[tuple[str, str, str, float | None]] = [
    ("batch", "ours BatchWorker", "Celery chord", 0.5),
    ("batch", "ours PersistentBatchWorker", "Celery chord", 0.5),
    ("batch", "ours SimpleBatchWorker", "Celery chord", 0.5),
    ("batch", "ours BatchWorker", "Celery group", None),
    ("batch", "ours BatchWorker", "raw rq.Worker", 1.10),
    ("batch", "ours SimpleBatchWorker", "raw rq.SimpleWorker", 1.10),
    ("batch", "ours PersistentBatchWorker", "raw rq.Worker", 1.10),
    ("batch", "ours SimpleBatchWorker, no window", "raw rq.SimpleWorker", 1.10),
    ("chain", "ours BatchWorker", "Celery chain", 1.0),
    ("chain", "ours PersistentBatchWorker", "Celery chain", 1.0),
    ("chain", "ours SimpleBatchWorker", "Celery chain", 1.0),
    ("chain", "ours BatchWorker", "raw rq.Worker", 1.10),
    ("chain", "ours SimpleBatchWorker", "raw rq.SimpleWorker", 1.10),
    ("dispatch", "ours", "raw enqueue_many", 1.2),
    ("dispatch", "ours, enqueue all", "raw enqueue_many", 1.2),
    ("dispatch", "ours", "Celery group", None),
    ("dispatch", "ours", "Celery chord", None),
]
UNITS = {"batch": "s", "chain": "ms/step", "dispatch": "s"}
#: The systems each phase's ratios need.
RATIOS_SYSTEMS = {
    phase: sorted({name for p, ours, other, _ in RATIOS if p == phase for name in (ours, other)})
    for phase in UNITS
}


def median(runs: list[float]) -> float:
    return statistics.median(runs)


def ratio(phase: dict[str, list[float]], ours: str, other: str) -> tuple[float, list[float]]:
    """Median over median, and each round's own ratio (the spread)."""
    mine, theirs = phase[ours], phase[other]
    return median(mine) / median(theirs), [a / b for a, b in zip(mine, theirs, strict=True)]


def render(meta: dict[str, Any], results: list[dict[str, Any]]) -> str:
    lines = [
        f"{meta['date']}, {meta['cpus']} cores shared with other work: systems interleaved in "
        f"rotating order, median of {meta['repeat']} rounds",
        f"batch: {meta['jobs']} no-op jobs + callback, {meta['n_workers']} workers; chain: "
        f"{meta['steps']} steps, 1 worker; dispatch: {meta['dispatch_jobs']} jobs, no worker",
        "",
        f"{'db':<9} {'phase':<9} {'system':<34} {'median':>9} {'unit':<8} runs",
    ]
    for res in results:
        for phase in ("batch", "chain", "dispatch"):
            for name, runs in res.get(phase, {}).items():
                spread = " ".join(f"{x:.2f}" for x in runs)
                lines.append(
                    f"{res['db']:<9} {phase:<9} {name:<34} {median(runs):9.2f} "
                    f"{UNITS[phase]:<8} {spread}"
                )
    lines += ["", f"{'db':<9} {'phase':<9} {'ratio':<58} {'median':>6}  target       runs"]
    for res in results:
        for phase, ours, other, target in RATIOS:
            if phase not in res or not {ours, other} <= set(res[phase]):
                continue  # not measured (in this run)
            value, runs = ratio(res[phase], ours, other)
            verdict = "" if target is None else ("ok" if value <= target else "OVER")
            goal = "" if target is None else f"<= {target:<4}"
            lines.append(
                f"{res['db']:<9} {phase:<9} {ours + ' / ' + other:<58} {value:6.2f}  "
                f"{goal:<8} {verdict:<4} " + " ".join(f"{x:.2f}" for x in runs)
            )
    return "\n".join(lines)
