"""The chaos run's verdict: the job log (what really ran) against the rows (what was recorded).

A *run* is one execution of a row's code: a ``start`` line and, unless its process died, an
``end`` line. A row's *effective* run is the one its recorded outcome came from (attempt
``attempts``). Every other run must be explained: it ended in an error (a failed attempt,
retried by policy), or a kill hit the process running it (the work horse, or its parent
worker, which then could not record the outcome) between its start and the next run's start.
Anything else is a double run (or a run that vanished without a kill).
"""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.chaos_faults import KILLS, Fault
from bench.chaos_workload import Planned

OPEN = ("pending", "queued", "running")
TWICE = {"callback": "callback ran twice", "compensation": "compensation ran twice"}


@dataclass
class Run:
    row: str
    attempt: int
    pid: int
    ppid: int
    pgid: int
    worker: int
    start: float
    end: float | None = None
    ok: bool | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def describe(self, t0: float = 0.0) -> str:
        how = "no end" if self.end is None else ("ok" if self.ok else "error")
        at = f"{self.start - t0:.2f}s" + ("" if self.end is None else f"-{self.end - t0:.2f}s")
        return f"attempt {self.attempt} pid {self.pid} (worker #{self.worker}) at {at} ({how})"


def load_runs(path: Path) -> dict[str, list[Run]]:
    """Runs by row id, in start order."""
    runs: dict[str, list[Run]] = defaultdict(list)
    open_runs: dict[tuple[str, int, int], Run] = {}
    if not path.exists():
        return runs
    for text in path.read_text().splitlines():
        try:
            line = json.loads(text)
        except ValueError:
            continue  # a line cut short by a kill at the very moment of writing
        key = (line["row"], line["attempt"], line["pid"])
        if line["ev"] == "start":
            run = Run(
                line["row"],
                line["attempt"],
                line["pid"],
                line["ppid"],
                line.get("pgid", line["pid"]),
                line.get("w", 0),
                line["t"],
                info=line,
            )
            runs[line["row"]].append(run)
            open_runs[key] = run
        elif line["ev"] == "end" and key in open_runs:
            run = open_runs.pop(key)
            run.end, run.ok = line["t"], bool(line["ok"])
    for group in runs.values():
        group.sort(key=lambda r: r.start)
    return runs


@dataclass
class Verdict:
    violations: list[str] = field(default_factory=list)
    figures: Counter[str] = field(default_factory=Counter)
    by_type: Counter[str] = field(default_factory=Counter)

    def add(self, kind: str, message: str) -> None:
        self.by_type[kind] += 1
        self.violations.append(f"[{kind}] {message}")


class Judge:
    def __init__(
        self,
        runs: dict[str, list[Run]],
        faults: Iterable[Fault],
        quits: Iterable[tuple[float, int, int | None, int]] = (),
        t0: float = 0.0,
    ) -> None:
        self.runs = runs
        self.faults = list(faults)
        self.kills: list[tuple[float, int]] = [
            (f.t, pid) for f in self.faults if f.kind in KILLS for pid in f.pids
        ]
        self.worker_kills: list[tuple[float, int]] = [
            (f.t, n) for f in self.faults if f.kind in KILLS for n in f.workers
        ]
        self.quits = list(quits)  # workers that exited on their own: (t seen, pid, exit code)
        self.t0 = t0
        self.verdict = Verdict()

    def show(self, runs: Iterable[Run]) -> str:
        return "; ".join(r.describe(self.t0) for r in runs) or "never ran"

    def around(self, run: Run, until: float | None) -> str:
        """The faults and worker exits between a run's start (less 5 s) and ``until``: what
        to look at when a run is not explained."""
        limit = float("inf") if until is None else until
        seen = [
            f"{f.kind} at {f.t - self.t0:.1f}s"
            + (f" (pids {f.pids})" if f.pids else "")
            + "".join(f" worker #{n}" for n in f.workers)
            for f in self.faults
            if run.start - 5 <= f.t_end and f.t <= limit
        ]
        seen += [
            f"its worker #{n} (pid {pid}) quit on its own (exit {code}, seen at {t - self.t0:.1f}s)"
            for t, pid, code, n in self.quits
            if n == run.worker or pid == run.pid
        ]
        return "; ".join(seen) or "no fault near it"

    def killed(self, run: Run, until: float | None) -> bool:
        """Did a kill hit the process running ``run``, or the worker it belongs to (a horse's
        parent, which records its outcome), before ``until``? A worker may be killed just after
        it forked, before its horse logged the start, so earlier kills of the worker count."""
        limit = float("inf") if until is None else until
        if any(t <= limit and pid == run.pid for t, pid in self.kills):
            return True
        return bool(run.worker) and any(
            t <= limit and n == run.worker for t, n in self.worker_kills
        )

    # -- rows -------------------------------------------------------------------------------

    def row(self, row: dict[str, Any], label: str) -> Run | None:
        """Check one row's runs; return its effective run (None if it has none)."""
        v = self.verdict
        runs = self.runs.get(str(row["id"]), [])
        v.figures["runs"] += len(runs)
        rid = f"{label} row {row['id']} ({row['kind']}, pos {row['position']}, {row['status']})"
        if row["status"] in OPEN:
            v.add("never settled", f"{rid}: still {row['status']} ({self.show(runs)})")
            return None
        effective = None
        if row["status"] in ("completed", "failed"):
            matching = [r for r in runs if r.attempt == row["attempts"]]
            wanted = [r for r in matching if r.ok is (row["status"] == "completed")]
            if wanted:
                effective = wanted[-1]
            elif row["status"] == "completed":
                v.add(
                    "lost",
                    f"{rid}: completed in attempt {row['attempts']} but that attempt never ran "
                    f"to completion ({self.show(runs)})",
                )
            elif not str(row["error"]).startswith("WorkerLost"):
                v.add("lost", f"{rid}: failed ({row['error']!r:.80}) but no run failed so")
        for i, run in enumerate(runs):
            if run is effective:
                continue
            following = runs[i + 1].start if i + 1 < len(runs) else None
            if run.end is not None and run.ok is False:
                v.figures["failed attempts"] += 1
                continue
            if self.killed(run, following):
                v.figures["re-runs explained by a kill"] += 1
                if run.ok:  # the horse finished; its worker died before recording it
                    v.figures["re-runs after the run finished (its worker was killed)"] += 1
                continue
            if row["status"] == "cancelled":
                what = "cancelled job ran"
            elif not run.ok:
                what = "run vanished without a kill"
            elif following is None:
                what = "outcome lost"  # ran to completion, recorded otherwise, never re-run
            else:
                what = TWICE.get(row["kind"], "double run")
            v.add(
                what,
                f"{rid}: {run.describe(self.t0)} is not its recorded run "
                f"(attempts={row['attempts']}, error={row['error']!r:.100}); "
                f"runs: {self.show(runs)}; around it: {self.around(run, following)}",
            )
        if row["status"] == "failed" and str(row["error"]).startswith("WorkerLost"):
            v.figures["failed for good by WorkerLost"] += 1
        return effective


def judge(
    plans: dict[str, Planned],
    runs: dict[str, list[Run]],
    faults: list[Fault],
    quits: Iterable[tuple[float, int, int | None, int]] = (),
    t0: float = 0.0,
) -> Verdict:
    """Every check of the run over the batches in ``plans``."""
    from bench import chaos_reads

    j = Judge(runs, faults, quits, t0)
    v = j.verdict
    fields = (
        "id",
        "batch_id",
        "kind",
        "position",
        "status",
        "attempts",
        "error",
        "event",
        "compensation_path",
        "compensates_id",
    )
    for bid, plan in plans.items():  # read through storage: SQL or Redis, whichever is set
        batch = chaos_reads.batch(bid)
        if batch is None:
            v.add("lost", f"batch {bid} ({plan.kind}) has no row")
            continue
        rows = [{f: getattr(r, f) for f in fields} for r in chaos_reads.rows(bid)]
        _check_batch(j, batch, plan, rows)
    return v


def _check_batch(j: Judge, batch: Any, plan: Planned, rows: list[dict[str, Any]]) -> None:
    v = j.verdict
    label = f"batch {batch.pk} ({batch.name})"
    v.figures["batches"] += 1
    v.figures[f"batches {batch.status}"] += 1
    if batch.status in ("pending", "running"):
        v.add("batch still open", f"{label} is {batch.status}")
    jobs = [r for r in rows if r["kind"] == "job"]
    status = Counter(r["status"] for r in jobs)
    v.figures["job rows"] += len(jobs)
    v.figures["completions"] += status["completed"]
    counters = (batch.total_jobs, batch.completed_jobs, batch.failed_jobs, batch.cancelled_jobs)
    real = (len(jobs), status["completed"], status["failed"], status["cancelled"])
    if counters != real:
        v.add("counters", f"{label}: counters {counters} != rows {real}")
    if plan.cancelled and batch.status != "cancelled":
        v.add("cancel ignored", f"{label}: cancel() returned True but it is {batch.status}")
    effective = {str(r["id"]): j.row(r, label) for r in rows}
    _check_callbacks(j, batch, rows, effective, label)
    _check_compensations(j, batch, plan, rows, effective, label)
    if batch.type == "sequential":
        _check_chain_order(j, jobs, effective, label)


def _check_callbacks(
    j: Judge, batch: Any, rows: list[dict[str, Any]], eff: dict[str, Run | None], label: str
) -> None:
    v = j.verdict
    expected = {"completed": ["on_complete"], "failed": ["on_failure"]}.get(batch.status, [])
    if batch.status == "completed" and batch.allow_failures and batch.failed_jobs:
        expected = ["on_complete", "on_failure"]
    done: Counter[str] = Counter()
    for r in rows:
        if r["kind"] != "callback":
            continue
        run = eff[str(r["id"])]
        if r["status"] == "completed" and run is not None:
            done[r["event"]] += 1
        elif r["status"] == "failed" and all(
            j.killed(x, None) for x in j.runs.get(str(r["id"]), [])
        ):
            done[r["event"]] += 1  # killed out of its retries: its runs are accounted for
            v.figures["callbacks killed out"] += 1
    v.figures["callbacks"] += sum(done.values())
    if done != Counter(expected):
        v.add(
            "callbacks",
            f"{label} ({batch.status}): callbacks ran {dict(done)}, expected {expected}",
        )


def _check_compensations(
    j: Judge,
    batch: Any,
    plan: Planned,
    rows: list[dict[str, Any]],
    eff: dict[str, Run | None],
    label: str,
) -> None:
    v = j.verdict
    undoable = [r for r in rows if r["kind"] == "job" and r["compensation_path"]]
    if not undoable:
        return
    comps = [r for r in rows if r["kind"] == "compensation"]
    undo = batch.status == "failed" or (batch.status == "cancelled" and plan.compensate)
    by_original: Counter[str] = Counter(str(r["compensates_id"]) for r in comps)
    for r in undoable:
        want = 1 if undo and r["status"] == "completed" else 0
        got = by_original[str(r["id"])]
        if got != want:
            v.add(
                "compensations",
                f"{label} ({batch.status}): job {r['id']} (pos {r['position']}, {r['status']}) "
                f"compensated {got} times, expected {want}",
            )
    ran = sorted(
        ((run, r) for r in comps if (run := eff[str(r["id"])]) is not None and run.ok),
        key=lambda pair: pair[0].start,
    )
    v.figures["compensations"] += len(ran)
    for (a, ra), (b, rb) in itertools.pairwise(ran):
        if rb["position"] >= ra["position"] or a.end is None or b.start < a.end:
            v.add(
                "compensation order",
                f"{label}: compensation of pos {rb['position']} ({b.describe(j.t0)}) after pos "
                f"{ra['position']} ({a.describe(j.t0)}); expected newest first, one at a time",
            )
    failed = any(r["status"] == "failed" for r in comps)
    want_status = ("failed" if failed else "completed") if comps else None
    if batch.compensation_status != want_status:
        v.add(
            "compensations",
            f"{label}: compensation_status {batch.compensation_status}, expected {want_status}",
        )


def _check_chain_order(
    j: Judge, jobs: list[dict[str, Any]], eff: dict[str, Run | None], label: str
) -> None:
    done = sorted(
        ((r["position"], run) for r in jobs if (run := eff[str(r["id"])]) is not None),
        key=lambda pair: pair[0],
    )
    for (pa, a), (pb, b) in itertools.pairwise(done):
        if a.end is None or b.start < a.end:
            j.verdict.add(
                "chain order", f"{label}: step {pb} ({b.describe(j.t0)}) before step {pa} ended"
            )
