"""Retries, timeouts, allow_failures and on_job_failure (contract §4)."""

import pytest
from rq.registry import ScheduledJobRegistry

from django_batchqueue.execution.queues import get_queue
from django_batchqueue.testing import drain
from tests.reads import batch as read_batch
from tests.reads import job as one_row
from tests.reads import jobs
from tests.testapp.jobs import Boom, Echo, FlakyTwice, RecordCallback, Sleepy, Square
from tests.testapp.models import Event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("each_storage")]


def test_a_job_fails_only_when_its_retries_are_used_up(manager):
    batch_id = manager.batch([FlakyTwice]).on_job_failure(RecordCallback).dispatch()
    assert drain() == 3  # one RQ job per attempt
    job = one_row(batch_id, None)
    assert (job.status, job.attempts, job.result) == ("completed", 3, {"attempts": 3})
    assert job.error == "ValueError: flaky attempt 2"  # the last failed attempt's error
    assert [e.payload["attempt"] for e in Event.objects.filter(label="flaky")] == [1, 2, 3]
    assert not Event.objects.filter(label__startswith="callback").exists()
    assert read_batch(batch_id).status == "completed"


def test_attempts_and_last_error_when_retries_run_out(manager):
    batch_id = manager.batch(
        [{"class": Boom, "args": {"message": "still down"}, "max_retries": 2}]
    ).dispatch()
    drain()
    job = one_row(batch_id, None)
    assert (job.status, job.attempts) == ("failed", 3)
    assert job.error == "RuntimeError: still down" and "Traceback" in job.traceback
    assert Event.objects.filter(label="boom").count() == 3


def test_retry_settings_precedence(manager):
    batch_id = (
        manager.batch(
            [
                Echo,  # builder default
                FlakyTwice,  # its class says 2
                {"class": FlakyTwice, "max_retries": 5, "timeout": 7},  # the definition wins
                "tests.testapp.jobs.flaky_function",  # @job(max_retries=1)
            ]
        )
        .retry(4, delay=0.5)
        .timeout(20)
        .dispatch()
    )
    rows = {r.position: r for r in jobs(batch_id, None)}
    assert (rows[0].max_retries, rows[0].retry_delay, rows[0].timeout) == (4, 0.5, 20)
    assert (rows[1].max_retries, rows[1].timeout) == (2, 20)
    assert (rows[2].max_retries, rows[2].timeout) == (5, 7)
    assert rows[3].max_retries == 1


def test_delayed_retries_use_rq_scheduled_jobs_and_drain_does_not_wait(manager):
    batch_id = manager.batch([{"class": FlakyTwice}]).retry(0, delay=3600).dispatch()
    drain(max_jobs=1)
    registry = ScheduledJobRegistry(queue=get_queue("batchjob"))
    assert registry.count == 1 and get_queue("batchjob").count == 0
    row = one_row(batch_id, None)
    assert (row.status, row.attempts) == ("queued", 1)
    assert registry.get_job_ids() == [row.rq_job_id]
    assert drain() == 2  # both remaining attempts, without waiting an hour
    assert one_row(batch_id, None).status == "completed"


def test_timeout_fails_the_attempt_with_a_clear_error(manager):
    batch_id = manager.batch(
        [{"class": Sleepy, "args": {"seconds": 5}, "max_retries": 1}]
    ).dispatch()
    drain()
    job = one_row(batch_id, None)
    assert (job.status, job.attempts) == ("failed", 2)
    assert job.error == "JobTimeout: job exceeded its timeout of 1s"


def test_a_job_raising_system_exit_is_recorded_and_the_worker_goes_on(manager):
    batch_id = (
        manager.batch(["tests.testapp.jobs.Exit", {"class": Square, "args": {"n": 2}}])
        .allow_failures()
        .dispatch()
    )
    assert drain() == 2
    rows = {r.position: r for r in jobs(batch_id, None)}
    assert rows[0].status == "failed" and rows[0].error == "SystemExit: 3"
    assert rows[1].status == "completed"


def test_allow_failures_callback_order_and_messages(manager):
    batch_id = (
        manager.batch(
            [
                {"class": Square, "args": {"n": 1}},
                {"class": Boom, "args": {"message": "first"}},
                {"class": Square, "args": {"n": 2}},
                {"class": Boom, "args": {"message": "second"}},
                {"class": Square, "args": {"n": 3}},
            ]
        )
        .allow_failures()
        .on_job_failure({"class": RecordCallback, "args": {"tag": "job_failure"}})
        .on_complete({"class": RecordCallback, "args": {"tag": "complete"}})
        .on_failure({"class": RecordCallback, "args": {"tag": "failure"}})
        .dispatch()
    )
    drain()
    batch = read_batch(batch_id)
    assert (batch.status, batch.completed_jobs, batch.failed_jobs) == ("completed", 3, 2)
    events = [(e.label, e.payload) for e in Event.objects.filter(label__startswith="callback")]
    assert [label for label, _ in events] == [
        "callback:job_failure",
        "callback:job_failure",
        "callback:complete",
        "callback:failure",
    ]
    jf1, jf2, complete, failure = (p for _, p in events)
    assert (jf1["status"], jf1["error"], jf1["extra"]["failed_job_position"]) == (
        "failed",
        "RuntimeError: first",
        1,
    )
    assert jf2["extra"]["failed_job_position"] == 3
    assert jf1["extra"]["job_id"] == str(one_row(batch.pk, position=1).pk)
    assert (complete["status"], complete["error"]) == ("completed", None)
    assert (failure["status"], failure["error"]) == ("failed", "2 of 5 jobs failed")


def test_strict_mode_runs_on_job_failure_before_on_failure(manager):
    manager.batch([Boom]).on_failure(
        {"class": RecordCallback, "args": {"tag": "failure"}}
    ).on_job_failure({"class": RecordCallback, "args": {"tag": "job"}}).dispatch()
    drain()
    assert [e.label for e in Event.objects.all() if e.label.startswith("callback")] == [
        "callback:job",
        "callback:failure",
    ]
