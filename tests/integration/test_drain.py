"""django_batchqueue.testing.drain (contract §7)."""

import pytest

from django_batchqueue.execution.queues import get_queue
from django_batchqueue.testing import drain
from tests.testapp.jobs import Square, Step, SumResults

pytestmark = pytest.mark.django_db(transaction=True)


def test_returns_how_many_rq_jobs_ran_including_ones_enqueued_while_draining(manager):
    manager.chain([{"class": Step, "args": {"name": n}} for n in "abc"]).on_complete(
        SumResults
    ).dispatch()
    # 3 steps, each enqueued by the previous one, then the callback: 4 RQ jobs.
    assert drain() == 4
    assert drain() == 0


def test_max_jobs_stops_early_and_the_rest_stays_queued(manager):
    manager.batch([{"class": Square, "args": {"n": n}} for n in range(5)]).dispatch()
    assert drain(max_jobs=2) == 2
    assert get_queue("batchjob").count == 3
    assert drain() == 3


def test_only_the_given_queues_are_drained(manager):
    manager.batch([{"class": Square, "args": {"n": 1}}]).queue("email-processing").dispatch()
    manager.batch([{"class": Square, "args": {"n": 2}}]).dispatch()
    assert drain(queues=["batchjob"]) == 1
    assert get_queue("email-chain").count == 1
    assert drain() == 1
