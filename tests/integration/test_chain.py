"""Chains: order, accumulated context, failure (contract §4)."""

import pytest

from django_batchqueue.execution.queues import get_queue
from django_batchqueue.testing import drain
from tests.reads import batch as read_batch
from tests.reads import jobs
from tests.testapp.jobs import Boom, RecordCallback, Step
from tests.testapp.models import Event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("each_storage")]


def steps(*names):
    return [{"class": Step, "args": {"name": n}} for n in names]


def test_only_the_first_step_is_enqueued_at_dispatch(manager):
    batch_id = manager.chain(steps("a", "b", "c")).dispatch()
    assert get_queue("batchjob").count == 1
    statuses = [r.status for r in jobs(batch_id)]
    assert statuses == ["queued", "pending", "pending"]


def test_each_step_sees_the_context_of_the_ones_before(manager):
    batch_id = (
        manager.chain(steps("reserve", "charge", "ship")).set_context({"order_id": 123}).dispatch()
    )
    assert drain() == 3
    seen = [e.payload["seen"] for e in Event.objects.filter(label="step")]
    assert seen == [[], ["reserve"], ["reserve", "charge"]]
    batch = read_batch(batch_id)
    assert batch.context == {
        "order_id": 123,
        "steps": ["reserve", "charge", "ship"],
        "done_reserve": True,
        "done_charge": True,
        "done_ship": True,
    }
    assert (batch.status, batch.completed_jobs) == ("completed", 3)


def test_a_failed_step_cancels_the_rest_and_runs_on_failure_once(manager):
    batch_id = (
        manager.chain(
            [*steps("a"), {"class": Boom, "args": {"message": "payment refused"}}, *steps("c", "d")]
        )
        .on_failure({"class": RecordCallback, "args": {"tag": "chain"}})
        .dispatch()
    )
    drain()
    batch = read_batch(batch_id)
    assert batch.status == "failed" and batch.error == "RuntimeError: payment refused"
    assert (batch.completed_jobs, batch.failed_jobs, batch.cancelled_jobs) == (1, 1, 2)
    assert [r.status for r in jobs(batch_id)] == ["completed", "failed", "cancelled", "cancelled"]
    assert [e.payload["name"] for e in Event.objects.filter(label="step")] == ["a"]
    (cb,) = Event.objects.filter(label="callback:chain")
    assert (
        cb.payload["status"] == "failed" and cb.payload["error"] == "RuntimeError: payment refused"
    )
    # The context saved by the completed step is kept.
    assert batch.context["steps"] == ["a"]


def test_parallel_context_changes_are_not_saved(manager):
    batch_id = manager.batch(steps("x", "y")).set_context({"k": 1}).dispatch()
    drain()
    assert read_batch(batch_id).context == {"k": 1}
