"""``manage.py batchqueue_status`` (a terminal view, like ``rq info``): the list of running and
pending batches, one batch followed with --watch until it finishes; bars, counts, rate and ETA.

It runs here on the in-memory storage with no database: everything it shows is read through
the storage interface.
"""

from __future__ import annotations

import re
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from django_batchqueue import batch, chain
from django_batchqueue.management.commands import batchqueue_status
from django_batchqueue.terminal import RateMeter, bar, duration, eta
from django_batchqueue.testing import in_memory
from tests.testapp import memory_jobs as jobs

pytestmark = pytest.mark.fast


def status(*args: str) -> str:
    out = StringIO()
    call_command("batchqueue_status", *args, stdout=out)
    return out.getvalue()


def squares(n: int, name: str = ""):
    builder = batch([{"class": jobs.Square, "args": {"n": i}} for i in range(n)])
    return (builder.name(name) if name else builder).dispatch()


def test_lists_running_and_pending_batches_with_bars():
    with in_memory() as queue:
        finished = squares(1)
        queue.run()
        running = squares(10, "Nightly totals")
        queue.run(max_jobs=4)
        pending = chain([jobs.Step]).name("checkout").dispatch()
        out = status("--ascii")
    lines = out.splitlines()
    assert lines[0] == "1 running batch"
    assert running in lines[1] and "Nightly totals" in lines[1] and "parallel" in lines[1]
    assert "[########............]  40%" in lines[1] and "4/10" in lines[1]
    assert re.search(r"\d+\.\d jobs/s  ETA \d+s$", lines[1])
    assert lines[2] == "1 pending batch"
    assert pending in lines[3] and "chain" in lines[3] and "0/1" in lines[3]
    assert "ETA -" in lines[3]  # nothing finished yet: no rate, no ETA
    assert finished not in out and len(lines) == 4


def test_list_is_capped_per_status_and_says_so():
    with in_memory():
        for _ in range(3):
            squares(1)
        out = status("--limit", "2")
    assert out.splitlines()[:2] == ["0 running batches", "3 pending batches (newest 2 shown)"]
    assert len(out.splitlines()) == 2 + 2


def test_one_batch_in_detail():
    with in_memory() as queue:
        batch_id = (
            batch([{"class": jobs.Square, "args": {"n": 1}}, jobs.Boom, jobs.Square])
            .allow_failures()
            .name("mixed")
            .dispatch()
        )
        queue.run(max_jobs=2)
        out = status(batch_id, "--ascii")
    assert out.splitlines()[0] == f"Batch {batch_id} “mixed”: parallel on queue batchjob"
    assert "  status    running" in out
    assert "67%" in out
    assert "1 completed, 1 failed, 0 cancelled of 3 (1 queued or running, 0 waiting)" in out
    assert "jobs/s, ETA" in out


def test_watch_follows_a_batch_until_it_finishes(monkeypatch):
    with in_memory() as queue:
        batch_id = squares(6)
        # Between redraws, two more jobs finish.
        monkeypatch.setattr(batchqueue_status.time, "sleep", lambda s: queue.run(max_jobs=2))
        out = status(batch_id, "--watch", "--interval", "0", "--ascii")
    frames = out.strip().split("\n\n")
    percentages = [int(re.search(r"(\d+)%", f).group(1)) for f in frames]
    assert percentages == [0, 33, 67, 100]
    assert "status    completed" in frames[-1] and "ETA" not in frames[-1]


def test_watch_exits_non_zero_when_the_batch_fails(monkeypatch):
    with in_memory() as queue:
        batch_id = batch([jobs.Boom]).dispatch()
        monkeypatch.setattr(batchqueue_status.time, "sleep", lambda s: queue.run())
        with pytest.raises(CommandError, match="ended failed") as raised:
            status(batch_id, "--watch", "--interval", "0")
    assert raised.value.returncode == 1


def test_watch_of_the_list_redraws_until_told_to_stop(monkeypatch):
    with in_memory() as queue:
        squares(4)
        monkeypatch.setattr(batchqueue_status.time, "sleep", lambda s: queue.run(max_jobs=1))
        out = status("--watch", "--interval", "0", "--iterations", "3", "--ascii")
    frames = out.strip().split("\n\n")
    assert [f.splitlines()[0] for f in frames] == ["0 running batches", *["1 running batch"] * 2]


@pytest.mark.parametrize("bad", [str(uuid.uuid4()), "not-a-uuid"])
def test_unknown_or_malformed_batch_ids_are_errors(bad):
    with in_memory(), pytest.raises(CommandError, match="no batch with id"):
        status(bad)


def test_bars_durations_and_eta():
    assert bar(50, 10, ascii_only=True) == "[#####.....]"
    assert bar(100, 4) == "[████]" and bar(0, 4) == "[░░░░]"
    assert (duration(None), duration(42), duration(185), duration(7800)) == (
        "-",
        "42s",
        "3m 05s",
        "2h 10m",
    )
    assert eta(40, 100, 5.0) == 12 and eta(40, 100, None) is None


def test_rate_is_measured_between_samples_over_a_window():
    now = [0.0]
    meter = RateMeter(window=30, clock=lambda: now[0])
    assert meter.rate("b", 0, None) is None  # nothing finished, not started
    now[0] = 10
    assert meter.rate("b", 50, None) == 5.0
    now[0] = 20
    assert meter.rate("b", 150, None) == 7.5  # (150 - 0) / 20
    now[0] = 60
    assert meter.rate("b", 250, None) == 2.5  # samples older than the window are dropped
