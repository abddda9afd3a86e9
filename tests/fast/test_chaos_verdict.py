"""The chaos run's verdict (bench/chaos_verdict.py) tells explained re-runs from double runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.chaos_faults import Fault, parse_faults
from bench.chaos_verdict import Judge, Run, load_runs

pytestmark = pytest.mark.fast


def row(status="completed", attempts=1, error=""):
    return {
        "id": "r1",
        "kind": "job",
        "position": 0,
        "status": status,
        "attempts": attempts,
        "error": error,
    }


def run(attempt, pid, start, end=None, ok=None, worker=1, ppid=100):
    return Run("r1", attempt, pid, ppid, pid, worker, start, end, ok)


def judged(runs, faults=(), **kw):
    judge = Judge({"r1": runs}, faults)
    effective = judge.row(row(**kw), "batch b")
    return judge.verdict, effective


def test_one_run_completed_is_clean():
    verdict, effective = judged([run(1, 10, 1.0, 2.0, True)])
    assert verdict.violations == [] and effective is not None and effective.pid == 10


def test_a_rerun_after_its_horse_was_killed_is_explained():
    faults = [Fault(1.5, "kill-horse", [10])]
    verdict, _ = judged([run(1, 10, 1.0), run(2, 11, 5.0, 6.0, True)], faults, attempts=2)
    assert verdict.violations == []
    assert verdict.figures["re-runs explained by a kill"] == 1


def test_a_finished_run_whose_worker_was_killed_before_it_forked_is_explained():
    # The parent (worker 3) died just after the fork, before the horse logged its start.
    faults = [Fault(0.9, "kill-worker", [100], workers=[3])]
    runs = [run(1, 10, 1.0, 2.0, True, worker=3, ppid=1), run(2, 11, 5.0, 6.0, True, worker=4)]
    verdict, _ = judged(runs, faults, attempts=2)
    assert verdict.violations == []
    assert verdict.figures["re-runs after the run finished (its worker was killed)"] == 1


def test_a_rerun_without_a_kill_is_a_double_run():
    faults = [Fault(1.5, "redis-empty", [999]), Fault(1.6, "kill-horse", [77])]
    runs = [run(1, 10, 1.0, 2.0, True), run(2, 11, 5.0, 6.0, True)]
    verdict, _ = judged(runs, faults, attempts=2)
    assert verdict.by_type == {"double run": 1}


def test_a_kill_after_the_next_run_started_explains_nothing():
    faults = [Fault(5.5, "kill-group", [10], workers=[1])]
    runs = [run(1, 10, 1.0, 2.0, True), run(2, 11, 5.0, 6.0, True, worker=2)]
    verdict, _ = judged(runs, faults, attempts=2)
    assert verdict.by_type == {"double run": 1}


def test_a_callback_run_twice_is_named_so():
    judge = Judge({"r1": [run(1, 10, 1.0, 2.0, True), run(2, 11, 5.0, 6.0, True)]}, [])
    judge.row({**row(attempts=2), "kind": "callback"}, "batch b")
    assert judge.verdict.by_type == {"callback ran twice": 1}


def test_a_completed_row_that_never_ran_is_lost():
    verdict, _ = judged([])
    assert verdict.by_type == {"lost": 1}


def test_a_finished_run_recorded_as_worker_lost_is_an_outcome_lost():
    verdict, _ = judged(
        [run(1, 10, 1.0, 2.0, True)], status="failed", error="WorkerLost: worker w died"
    )
    assert verdict.by_type == {"outcome lost": 1}


def test_failed_attempts_retried_are_fine_and_open_rows_never_settled():
    verdict, _ = judged([run(1, 10, 1.0, 2.0, False), run(2, 11, 3.0, 4.0, True)], attempts=2)
    assert verdict.violations == [] and verdict.figures["failed attempts"] == 1
    verdict, _ = judged([run(1, 10, 1.0)], status="running")
    assert verdict.by_type == {"never settled": 1}


def test_a_cancelled_row_that_ran_is_reported():
    verdict, _ = judged([run(1, 10, 1.0, 2.0, True)], status="cancelled")
    assert verdict.by_type == {"cancelled job ran": 1}


def test_the_log_pairs_starts_with_ends_and_skips_a_torn_line(tmp_path: Path):
    base = {"row": "r1", "batch": "b", "attempt": 1, "pid": 10, "ppid": 5, "pgid": 10, "w": 2}
    lines = [
        json.dumps({**base, "t": 1.0, "ev": "start"}),
        json.dumps({**base, "t": 2.0, "ev": "end", "ok": True}),
        '{"row": "r1", "t": 3',
    ]
    path = tmp_path / "jobs.log"
    path.write_text("\n".join(lines) + "\n")
    (only,) = load_runs(path)["r1"]
    assert (only.start, only.end, only.ok, only.worker) == (1.0, 2.0, True, 2)


def test_fault_kinds_parse():
    assert parse_faults("kill,pg-terminate") == (
        "kill-worker",
        "kill-horse",
        "kill-group",
        "pg-terminate",
    )
    assert len(parse_faults("all")) == 6 and parse_faults("none") == ()
    with pytest.raises(ValueError, match="unknown fault kind"):
        parse_faults("kill-everything")
