"""Concurrency caps and fair turns on the SQL backend with real Redis (contract §10)."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from django_batchqueue.execution import flow
from django_batchqueue.execution.queues import get_queue
from django_batchqueue.testing import drain
from tests.reads import batch as read_batch
from tests.reads import jobs
from tests.testapp.jobs import Boom, Slow, Square
from tests.testapp.models import Event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("each_storage")]


def queued_in_rq() -> int:
    return get_queue("batchjob").count


def test_redis_holds_only_the_released_jobs_of_a_big_batch(manager, settings, clean_redis):
    """With 20 workers on the queue a batch hands RQ 16 jobs per worker, at most its window."""
    from django_batchqueue.execution import queues

    settings.BATCHQUEUE = {**settings.BATCHQUEUE, "RELEASE_WINDOW": 50}
    queues._worker_counts["batchjob"] = (float("inf"), 20)  # as if 20 workers listened
    try:
        batch_id = manager.batch(
            [{"class": Square, "args": {"n": i}} for i in range(500)]
        ).dispatch()
        assert queued_in_rq() == 50  # min(window 50, 16 x 20 workers)
        assert len(clean_redis.keys("rq:job:*")) == 50
        batch = read_batch(batch_id)
        assert (batch.total_jobs, batch.waiting_jobs) == (500, 450)
        assert manager.get_progress(batch_id)["pending_jobs"] == 500  # progress counts them all
        drain(max_jobs=24)
        assert queued_in_rq() == 26  # no release for every finished job
        drain(max_jobs=1)
        assert queued_in_rq() == 50  # topped up once half of it had run
        queues._worker_counts["batchjob"] = (float("inf"), 1)  # now one worker: 16 at most
        assert drain(max_jobs=25) == 25
        assert queued_in_rq() == 25  # above 8 (half of 16): nothing released
        assert drain() == 450
    finally:
        queues._worker_counts.clear()
    batch = read_batch(batch_id)
    assert (batch.status, batch.completed_jobs, batch.waiting_jobs) == ("completed", 500, 0)
    assert list(manager.get_results(batch_id).values()) == [i * i for i in range(500)]


def test_a_cap_is_stored_and_released_in_position_order(manager):
    batch_id = (
        manager.batch([{"class": Square, "args": {"n": i}} for i in range(6)])
        .max_concurrency(2)
        .dispatch()
    )
    batch = read_batch(batch_id)
    assert (batch.max_concurrency, batch.waiting_jobs, queued_in_rq()) == (2, 4, 2)
    while drain(max_jobs=1):
        assert queued_in_rq() <= 2
    ran = [e.payload["n"] for e in Event.objects.filter(label="square")]
    assert ran == list(range(6))


def test_a_strict_failure_cancels_the_waiting_jobs_which_never_run(manager):
    batch_id = (
        manager.batch([Boom, *[{"class": Square, "args": {"n": i}} for i in range(4)]])
        .max_concurrency(1)
        .dispatch()
    )
    drain()
    batch = read_batch(batch_id)
    assert (batch.status, batch.cancelled_jobs, batch.waiting_jobs) == ("failed", 4, 0)
    assert not Event.objects.filter(label="square").exists()


def test_reconcile_releases_jobs_a_crash_left_waiting(manager, settings, monkeypatch):
    """A worker dies between recording a finish and releasing the next jobs."""
    settings.BATCHQUEUE = {**settings.BATCHQUEUE, "RELEASE_WINDOW": 2}
    batch_id = manager.batch([{"class": Square, "args": {"n": i}} for i in range(5)]).dispatch()
    monkeypatch.setattr(flow, "release", lambda *args, **kwargs: 0)
    drain()
    monkeypatch.undo()
    batch = read_batch(batch_id)
    assert (batch.status, batch.completed_jobs, batch.waiting_jobs) == ("running", 2, 3)
    call_command("batchqueue_reconcile", "--grace=0")
    drain()
    batch = read_batch(batch.pk)
    assert (batch.status, batch.completed_jobs) == ("completed", 5)


def test_no_window_hands_every_job_to_rq_at_dispatch(manager, settings):
    settings.BATCHQUEUE = {**settings.BATCHQUEUE, "RELEASE_WINDOW": None}
    batch_id = manager.batch([Slow] * 150).dispatch()
    assert queued_in_rq() == 150
    assert not jobs(batch_id, status="pending")
