"""Signals are sent once, after the change they report has been committed."""

import uuid

import pytest

from django_batchqueue import signals
from django_batchqueue.storage import get_storage
from django_batchqueue.testing import drain
from tests.testapp.jobs import Boom, Maybe, Square, Undo

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("each_storage")]

ALL = [
    "batch_dispatched",
    "batch_finished",
    "batch_failed",
    "batch_cancelled",
    "job_completed",
    "job_failed",
    "compensation_finished",
]


@pytest.fixture
def received():
    log = []

    def make(name):
        def receiver(sender, **kwargs):
            # Committed: the status the signal talks about is visible in the database.
            status = get_storage().batch_status(uuid.UUID(str(kwargs["batch_id"])))
            log.append((name, kwargs, status))

        return receiver

    receivers = {name: make(name) for name in ALL}
    for name, fn in receivers.items():
        getattr(signals, name).connect(fn)
    yield log
    for name, fn in receivers.items():
        getattr(signals, name).disconnect(fn)


def names(log):
    return [name for name, _, _ in log]


def test_a_completed_batch(manager, received):
    batch_id = manager.batch([{"class": Square, "args": {"n": 3}}]).dispatch()
    drain()
    assert names(received) == ["batch_dispatched", "job_completed", "batch_finished"]
    _, completed, _ = received[1]
    assert completed["batch_id"] == batch_id and completed["result"] == 9
    assert received[2][1]["status"] == "completed" and received[2][2] == "completed"


def test_a_failed_saga(manager, received):
    batch_id = manager.chain(
        [
            {"class": Maybe, "args": {"name": "a"}, "compensation": Undo},
            {"class": Boom, "args": {"message": "no"}},
        ]
    ).dispatch()
    drain()
    assert names(received) == [
        "batch_dispatched",
        "job_completed",
        "job_failed",
        "batch_failed",
        "compensation_finished",
    ]
    assert received[2][1]["error"] == "RuntimeError: no" and received[2][1]["position"] == 1
    assert received[3][1] == {
        "signal": signals.batch_failed,
        "batch_id": batch_id,
        "error": "RuntimeError: no",
    }
    assert received[4][1]["status"] == "completed"


def test_a_cancelled_batch(manager, received):
    batch_id = manager.batch([Square]).dispatch()
    manager.cancel(batch_id)
    assert names(received) == ["batch_dispatched", "batch_cancelled"]
    assert received[1][1]["compensate"] is False and received[1][2] == "cancelled"
