"""Concurrency caps and fair turns (contract §10) on the fast tier."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from django.test import override_settings

from django_batchqueue import BatchManager
from django_batchqueue.exceptions import InvalidDefinition
from django_batchqueue.execution import aftermath, flow
from django_batchqueue.storage import get_storage
from django_batchqueue.testing import in_memory
from tests.testapp import memory_jobs as jobs

pytestmark = pytest.mark.fast


def window(n):
    return override_settings(BATCHQUEUE={**settings.BATCHQUEUE, "RELEASE_WINDOW": n})


@pytest.fixture
def m():
    jobs.LOG.clear()
    return BatchManager()


def statuses(batch_id):
    rows = sorted(
        (r for r in get_storage().jobs.values() if str(r.batch_id) == batch_id and r.kind == "job"),
        key=lambda r: r.position,
    )
    return [r.status for r in rows]


def probes(batch_id=None):
    return [d for name, d in jobs.LOG if name == "probe" and batch_id in (None, d["batch"])]


def test_a_cap_holds_at_every_moment_and_releases_in_position_order(m):
    with in_memory() as queue:
        batch_id = (
            m.batch([{"class": jobs.Probe, "args": {"n": i}} for i in range(10)])
            .max_concurrency(3)
            .dispatch()
        )
        assert statuses(batch_id) == ["queued"] * 3 + ["pending"] * 7
        progress = m.get_progress(batch_id)
        assert (progress["total_jobs"], progress["pending_jobs"]) == (10, 10)
        assert m.get_batch(batch_id).waiting_jobs == 7
        while queue.run(max_jobs=1):
            assert statuses(batch_id).count("queued") + statuses(batch_id).count("running") <= 3
        assert [p["position"] for p in probes()] == list(range(10))
        assert max(p["active"] for p in probes()) == 3
        batch = m.get_batch(batch_id)
        assert (batch.status, batch.completed_jobs, batch.waiting_jobs) == ("completed", 10, 0)


def test_a_window_is_topped_up_when_half_of_it_has_run(m):
    with window(4), in_memory() as queue:
        batch_id = m.batch([{"class": jobs.Probe, "args": {"n": i}} for i in range(10)]).dispatch()
        assert statuses(batch_id).count("queued") == 4
        queue.run(max_jobs=1)
        assert statuses(batch_id).count("queued") == 3  # no release for every job
        queue.run(max_jobs=1)
        assert statuses(batch_id).count("queued") == 4  # half ran: topped up to the window
        queue.run()
        assert m.get_batch(batch_id).status == "completed"


def test_batches_sharing_a_queue_take_turns(m):
    with window(4), in_memory() as queue:
        big = m.batch([{"class": jobs.Probe, "args": {"n": i}} for i in range(40)]).dispatch()
        small = m.batch([{"class": jobs.Probe, "args": {"n": i}} for i in range(3)]).dispatch()
        queue.run()
        order = [p["batch"] for p in probes()]
        # The small batch, dispatched after the big one, waits for one window, not 40 jobs.
        assert order.index(small) <= 4
        assert max(i for i, b in enumerate(order) if b == small) < 8
        assert m.get_batch(big).status == m.get_batch(small).status == "completed"


def test_no_window_restores_enqueue_everything(m):
    with window(None), in_memory():
        batch_id = m.batch([jobs.Probe] * 150).dispatch()
        assert statuses(batch_id) == ["queued"] * 150


def test_a_window_hands_out_only_what_the_workers_can_use(m):
    """The in-process queue is one worker: a few jobs are handed out, never the whole window."""
    with in_memory():
        batch_id = m.batch([jobs.Probe] * 150).dispatch()
        assert statuses(batch_id).count("queued") == flow.MIN_FILL
        assert m.get_batch(batch_id).options["release_window"] == 100  # the default, stored


def test_a_strict_failure_cancels_the_waiting_jobs(m):
    with in_memory() as queue:
        batch_id = (
            m.batch([jobs.Boom, *[{"class": jobs.Probe, "args": {"n": i}} for i in range(5)]])
            .max_concurrency(2)
            .dispatch()
        )
        queue.run()
        batch = m.get_batch(batch_id)
        assert (batch.status, batch.failed_jobs, batch.cancelled_jobs, batch.waiting_jobs) == (
            "failed",
            1,
            5,
            0,
        )
        assert len(probes()) == 0  # the one released with Boom was cancelled before it ran


def test_added_jobs_and_retried_jobs_respect_the_cap(m):
    with in_memory() as queue:
        batch_id = (
            m.batch([{"class": jobs.Gate, "args": {"name": f"g{i}"}} for i in range(4)])
            .allow_failures()
            .max_concurrency(2)
            .dispatch()
        )
        m.add_jobs(batch_id, [{"class": jobs.Probe, "args": {"n": i}} for i in range(4)])
        assert statuses(batch_id).count("queued") == 2
        while queue.run(max_jobs=1):
            assert statuses(batch_id).count("queued") <= 2
        assert m.get_batch(batch_id).failed_jobs == 4
        jobs.Gate.OPEN = True
        assert m.retry_failed(batch_id) == 4
        assert statuses(batch_id).count("queued") == 2
        while queue.run(max_jobs=1):
            assert statuses(batch_id).count("queued") <= 2
        assert (m.get_batch(batch_id).status, m.get_batch(batch_id).completed_jobs) == (
            "completed",
            8,
        )


def test_nudge_releases_waiting_jobs_lost_between_a_finish_and_a_release(m, monkeypatch):
    with window(2), in_memory() as queue:
        batch_id = m.batch([jobs.Probe] * 5).dispatch()
        monkeypatch.setattr(flow, "release", lambda *a, **k: 0)  # the worker "died" meanwhile
        queue.run()
        monkeypatch.undo()
        batch = m.get_batch(batch_id)
        assert (batch.status, batch.completed_jobs, batch.waiting_jobs) == ("running", 2, 3)
        storage = get_storage()
        assert aftermath.nudge(storage, batch.id) is True
        queue.run()
        assert m.get_batch(batch_id).status == "completed"


@pytest.mark.parametrize("bad", [0, -1, 1.5, "3", True, None])
def test_bad_caps_are_refused_before_anything_is_written(m, bad):
    with in_memory():
        with pytest.raises(InvalidDefinition, match="max_concurrency"):
            m.batch([jobs.Probe]).max_concurrency(bad)
        assert get_storage().batches == {}


def test_a_chain_is_capped_at_one_by_nature(m):
    with in_memory(), pytest.raises(InvalidDefinition, match="one step at a time"):
        m.chain([jobs.Probe]).max_concurrency(2)


@pytest.mark.parametrize(
    ("batch_type", "limit", "at_dispatch", "held"),
    [
        ("parallel", None, True, False),
        ("parallel", 3, True, False),
        ("parallel", 3, False, False),
        ("sequential", None, True, False),
        ("sequential", None, False, False),
        ("parallel", None, True, True),
    ],
)
def test_planned_rows_know_their_waiting_count_before_they_are_built(
    batch_type, limit, at_dispatch, held
):
    """Dispatch stores a batch's counters before its rows, which are built as the storage
    writes them (so 100,000 rows are never all held): the count said up front is the count
    the rows then have, and the RQ jobs are those of the rows that start."""
    from django_batchqueue.definitions import NestedSpec, parse_jobs

    one = {"class": jobs.Square, "args": {"n": 2}}
    nested = BatchManager().batch([one])
    entries = parse_jobs([one, nested, one, one, one, one])
    member_ids = {id(e): uuid.uuid4() for e in entries if isinstance(e, NestedSpec)}
    planned = flow.plan(
        entries,
        batch_type=batch_type,
        queue="batchjob",
        defaults={},
        limit=limit,
        at_dispatch=at_dispatch,
        held=held,
        member_ids=member_ids,
    )
    waiting_before = planned.waiting
    assert planned.enqueues == []  # nothing is built yet
    rows = list(planned)
    assert len(rows) == len(planned) == 6
    assert waiting_before == sum(1 for r in rows if r.status == "pending")
    assert [e.row_id for e in planned.enqueues] == [str(r.id) for r in rows if r.status == "queued"]
    with pytest.raises(RuntimeError):
        list(planned)  # built once: a second pass would make new row ids
