"""Bad input beyond the builder (docs/bad-input.md): what reaches a worker that it must refuse
or survive, and payloads that are too big. Each case leaves the database consistent."""

import pytest
from rq import Queue

from django_batchqueue.exceptions import PayloadTooLarge
from django_batchqueue.execution.queues import RUNNER, get_queue
from django_batchqueue.execution.runner import perform
from django_batchqueue.storage import get_storage
from django_batchqueue.storage.base import BatchQuery
from django_batchqueue.testing import drain
from tests import reads, tamper
from tests.testapp.jobs import Square
from tests.testapp.models import Event

pytestmark = pytest.mark.django_db(transaction=True)


def test_oversized_args_are_refused_at_dispatch_naming_the_job(manager, settings):
    settings.BATCHQUEUE = {**settings.BATCHQUEUE, "MAX_PAYLOAD_BYTES": 1000}
    with pytest.raises(PayloadTooLarge, match=r"jobs\[1\]\.args is \d+ bytes of JSON, above"):
        manager.batch(
            [
                {"class": Square, "args": {"n": 1}},
                {"class": Square, "args": {"n": 1, "blob": "x" * 2000}},
            ]
        ).dispatch()
    with pytest.raises(PayloadTooLarge, match=r"^context is"):
        manager.batch([Square]).set_context({"blob": "x" * 2000})
    assert get_storage().list_batches(BatchQuery(), 0, 10) == []


def test_keyboard_interrupt_in_a_job_is_recorded_and_the_worker_goes_on(manager):
    batch_id = (
        manager.batch(["tests.testapp.jobs.Interrupt", {"class": Square, "args": {"n": 3}}])
        .allow_failures()
        .dispatch()
    )
    assert drain() == 2
    rows = {r.position: r for r in reads.jobs(batch_id)}
    assert (rows[0].status, rows[0].error) == ("failed", "KeyboardInterrupt")
    assert rows[1].status == "completed"


def test_a_job_class_removed_after_dispatch_fails_without_retries(manager):
    batch_id = manager.batch([{"class": Square, "args": {"n": 2}, "max_retries": 3}]).dispatch()
    tamper.job(reads.job(batch_id).id, job_path="tests.testapp.jobs.Retired")
    assert drain() == 1
    row = reads.job(batch_id)
    assert (row.status, row.attempts) == ("failed", 1)
    assert "'tests.testapp.jobs.Retired' cannot be imported" in row.error


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("args", [1, 2], "stored args of job"),
        ("args", "not a dict", "stored args of job"),
        ("meta", ["x"], "stored meta of job"),
    ],
)
def test_malformed_stored_job_payloads_fail_the_job_clearly(manager, field, value, message):
    batch_id = manager.batch([{"class": Square, "args": {"n": 2}, "max_retries": 2}]).dispatch()
    tamper.job(reads.job(batch_id).id, **{field: value})
    drain()
    row = reads.job(batch_id)
    assert (row.status, row.attempts) == ("failed", 1)  # not retried: it would fail again
    assert row.error.startswith("MalformedPayload: " + message)
    assert reads.batch(batch_id).status == "failed"


def test_a_malformed_stored_context(manager):
    batch_id = manager.chain([{"class": Square, "args": {"n": 2}}]).dispatch()
    tamper.batch(batch_id, context=["not", "an", "object"])
    drain()
    assert reads.job(batch_id).error.startswith("MalformedPayload: stored context of batch")


@pytest.mark.parametrize("arg", ["garbage", "", "1; DROP TABLE django_batchqueue_batch", None])
def test_rq_messages_that_do_not_name_a_row_run_nothing(manager, arg):
    batch_id = manager.batch([{"class": Square, "args": {"n": 2}}]).dispatch()
    get_queue("batchjob").enqueue_many([Queue.prepare_data(RUNNER, args=(arg,))])
    assert perform(arg) == "invalid"
    drain()
    assert reads.batch(batch_id).status == "completed"
    assert Event.objects.filter(label="square").count() == 1


def test_an_rq_message_naming_an_unknown_row(manager):
    import uuid

    assert perform(str(uuid.uuid4())) == "missing"


def test_a_duplicate_rq_message_for_a_row_runs_it_once(manager):
    batch_id = manager.batch([{"class": Square, "args": {"n": 2}}]).dispatch()
    row = reads.job(batch_id)
    # Someone (or a replayed Redis) enqueues a second RQ job for the same row.
    get_queue("batchjob").enqueue_many([Queue.prepare_data(RUNNER, args=(str(row.pk),))])
    assert drain() == 2
    assert Event.objects.filter(label="square").count() == 1
    row = reads.job(batch_id)
    assert (row.status, row.attempts) == ("completed", 1)
