"""The benchmark tools' arithmetic: ratio tables and the profile's buckets (no services)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import report, where_time_goes

pytestmark = pytest.mark.fast

META = {
    "date": "d",
    "cpus": 2,
    "repeat": 2,
    "jobs": 10,
    "n_workers": 2,
    "steps": 5,
    "dispatch_jobs": 20,
}


def test_ratio_is_median_over_median_with_each_rounds_own():
    phase = {"ours": [2.0, 4.0, 9.0], "raw": [1.0, 2.0, 3.0]}
    value, runs = report.ratio(phase, "ours", "raw")
    assert value == 2.0
    assert runs == [2.0, 2.0, 3.0]


def test_render_names_every_ratio_against_its_target():
    batch = {name: [1.0, 1.0] for name in report.RATIOS_SYSTEMS["batch"]}
    batch["ours BatchWorker"] = [3.0, 3.0]
    text = report.render(META, [{"db": "sqlite", "batch": batch}])
    assert "ours BatchWorker / Celery chord" in text
    line = next(x for x in text.splitlines() if "ours BatchWorker / Celery chord" in x)
    assert "3.00" in line and "OVER" in line
    assert "chain" not in text.split("ratio")[-1]  # phases not measured are left out


def test_profile_buckets_main_thread_horse_and_threads(tmp_path: Path):
    worker = 'process 1:"python manage.py rqworker"'
    horse = 'process 2:"python manage.py rqworker"'
    raw = tmp_path / "raw.txt"
    raw.write_text(
        "\n".join(
            [
                f"{worker};<module> (manage.py:1);wait_for_horse (rq/w.py:57) 6",
                f"{worker};<module> (manage.py:1);claim_for_horse (django_batchqueue/x.py:1);"
                "claim_and_load (django_batchqueue/storage/sql/hotpath.py:9) 2",
                f"{worker};<module> (manage.py:1);fork_work_horse (rq/w.py:68) 1",
                f"{worker};_bootstrap (threading.py:1002);run (redis/client.py:1) 9",
                f"{worker};{horse};<module> (manage.py:1);perform_job (rq/worker/base.py:1);"
                "execute (redis/client.py:2) 3",
            ]
        )
        + "\n"
    )
    parts = where_time_goes.split(raw)
    assert parts["parent"] == {
        "waiting for the horse (wait4)": 6,
        "ours: claim: claim_and_load": 2,
        "fork (os.fork in the parent)": 1,
    }
    assert parts["horse"] == {"RQ: Redis round trips": 3}
    assert sum(parts["other threads (not in ms/job)"].values()) == 9


def test_a_stray_line_without_a_process_frame_does_not_make_the_parent_a_horse(tmp_path: Path):
    """py-spy can write a line with no process frame (while attaching); the worker's own
    samples must still count as the parent's, and its horse's as the horse's."""
    worker = 'process 1:"python manage.py rqworker"'
    horse = 'process 2:"python manage.py rqworker"'
    raw = tmp_path / "raw.txt"
    raw.write_text(
        "\n".join(
            [
                "<module> (manage.py:1) 1",
                f"{worker};<module> (manage.py:1);Supervisor._watch (django_batchqueue/s.py:1) 5",
                f"{worker};{horse};<module> (manage.py:1);complete_and_count (x/hotpath.py:1) 4",
            ]
        )
        + "\n"
    )
    parts = where_time_goes.split(raw)
    assert sum(parts["parent"].values()) == 5
    assert parts["horse"] == {"ours: record: complete_and_count": 4}


def test_a_profile_without_process_frames_is_all_the_parent(tmp_path: Path):
    """Without ``--subprocesses`` py-spy writes no process frames: every line is the worker's."""
    raw = tmp_path / "raw.txt"
    raw.write_text("<module> (manage.py:1);claim_and_load (x/hotpath.py:1) 3\n")
    assert where_time_goes.split(raw)["parent"] == {"ours: claim: claim_and_load": 3}
