"""Caps and fair turns with real workers of the recommended class (contract §10)."""

from __future__ import annotations

import pytest

from tests import reads
from tests.conftest import wait_for
from tests.testapp.jobs import Slow, Square
from tests.testapp.models import Event

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.usefixtures("each_storage"),
]

WORKER = "django_batchqueue.worker.BatchWorker"


def most_running_at_once(labels=("slow_start", "slow_end")) -> int:
    running = most = 0
    for label in Event.objects.filter(label__in=labels).values_list("label", flat=True):
        running += 1 if label == labels[0] else -1
        most = max(most, running)
    return most


def test_four_workers_never_run_more_than_the_cap(manager, workers):
    batch_id = (
        manager.batch([{"class": Slow, "args": {"seconds": 0.3}} for _ in range(8)])
        .max_concurrency(2)
        .dispatch()
    )
    workers.start(4, worker_class=WORKER)
    wait_for(lambda: reads.batch(batch_id).status == "completed", message="the batch")
    assert most_running_at_once() == 2
    starts = [e.payload["position"] for e in Event.objects.filter(label="slow_start")]
    assert sorted(starts) == list(range(8))
    # Released in position order. (Which job *starts* first is up to the workers: on a loaded
    # machine the worker that took job 1 can log its start after job 0 ended and job 2 began.)
    released = sorted(reads.jobs(batch_id), key=lambda r: (r.enqueued_at, r.position))
    assert [r.position for r in released] == list(range(8))


def test_a_small_batch_takes_its_turn_before_a_big_one_dispatched_first(manager, workers, settings):
    settings.BATCHQUEUE = {**settings.BATCHQUEUE, "RELEASE_WINDOW": 10}
    big = manager.batch([{"class": Slow, "args": {"seconds": 0.05}} for _ in range(60)]).dispatch()
    small = manager.batch([{"class": Square, "args": {"n": i}} for i in range(5)]).dispatch()
    workers.start(2, worker_class=WORKER)
    wait_for(
        lambda: {reads.batch(b).status for b in (big, small)} == {"completed"},
        message="both batches",
    )
    order = list(
        Event.objects.filter(label__in=["slow_end", "square"]).values_list("label", flat=True)
    )
    last_small = max(i for i, label in enumerate(order) if label == "square")
    # Without turns the small batch would wait for all 60; it waits for about one window.
    assert order[: last_small + 1].count("slow_end") <= 15, order
