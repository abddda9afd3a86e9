"""Callbacks: arguments, signature filtering, exactly once (contract §4 "Callbacks")."""

import pytest

from django_batchqueue.testing import drain
from tests.reads import job, jobs
from tests.testapp.jobs import (
    Boom,
    Echo,
    NarrowCallback,
    RecordCallback,
    Square,
    callback_function,
)
from tests.testapp.models import Event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("each_storage")]


def test_on_complete_gets_its_args_and_the_outcome(manager):
    batch_id = (
        manager.batch([{"class": Square, "args": {"n": 2}}])
        .on_complete({"class": RecordCallback, "args": {"tag": "done", "notify": True}})
        .dispatch()
    )
    drain()
    (event,) = Event.objects.filter(label="callback:done")
    assert event.payload == {
        "batch_id": batch_id,
        "status": "completed",
        "error": None,
        "extra": {"notify": True},
    }


def test_names_run_does_not_accept_are_left_out(manager):
    batch_id = (
        manager.batch([Boom]).on_failure(NarrowCallback).on_job_failure(NarrowCallback).dispatch()
    )
    drain()
    events = [e.payload for e in Event.objects.filter(label="callback:narrow")]
    assert events == [{"batch_id": batch_id, "status": "failed"}] * 2
    assert {r.status for r in jobs(batch_id, "callback")} == {"completed"}


def test_callbacks_can_be_decorated_functions_and_paths(manager):
    manager.batch([Echo]).on_complete("tests.testapp.jobs.RecordCallback").dispatch()
    batch_id = manager.batch([Echo]).on_complete(callback_function).dispatch()
    drain()
    assert Event.objects.filter(label="callback:cb").count() == 1
    (event,) = Event.objects.filter(label="callback:function")
    assert event.payload == {"batch_id": batch_id, "status": "completed", "error": None}


def test_a_failing_callback_is_recorded_and_does_not_change_the_batch(manager):
    batch_id = manager.batch([Echo]).on_complete(Boom).dispatch()
    drain()
    cb = job(batch_id, "callback")
    assert cb.status == "failed" and "boom" in cb.error
    assert manager.get_batch(batch_id).status == "completed"
