"""Several callbacks per event and on_finally (contract §3) on the fast tier."""

from __future__ import annotations

import pytest

from django_batchqueue import BatchManager
from django_batchqueue.testing import in_memory
from tests.testapp import memory_jobs as jobs

pytestmark = pytest.mark.fast


@pytest.fixture
def queue():
    jobs.LOG.clear()
    with in_memory() as q:
        yield q


def cb(tag):
    return {"class": jobs.Callback, "args": {"tag": tag}}


def ran():
    return [
        (name.split(":", 1)[1], d.get("status"), d.get("error"))
        for name, d in jobs.LOG
        if name.startswith("callback:")
    ]


def test_several_callbacks_per_event_run_once_each_in_the_order_added(queue):
    BatchManager().batch([{"class": jobs.Square, "args": {"n": 2}}]).on_complete(
        cb("one")
    ).on_complete({"class": jobs.FailingCallback, "args": {"tag": "two"}}).on_complete(
        cb("three")
    ).on_finally(cb("finally")).dispatch()
    queue.run()
    assert ran() == [
        ("one", "completed", None),
        ("two", "completed", None),  # it fails; the next ones still run
        ("three", "completed", None),
        ("finally", "completed", None),
    ]


def test_on_finally_runs_after_the_outcome_callbacks_and_compensations(queue):
    batch_id = (
        BatchManager()
        .chain([{"class": jobs.Step, "args": {"name": "a"}, "compensation": jobs.Undo}, jobs.Boom])
        .on_failure(cb("failure-1"))
        .on_failure(cb("failure-2"))
        .on_finally(cb("finally-1"))
        .on_finally(cb("finally-2"))
        .dispatch()
    )
    queue.run()
    order = [
        name
        for name, _ in jobs.LOG
        if name in ("undo", "callback:finally-1") or name.startswith("callback:failure")
    ]
    assert order[-1] == "callback:finally-1"
    assert order.index("undo") < order.index("callback:finally-1")
    assert ran()[-2:] == [
        ("finally-1", "failed", "RuntimeError: boom"),
        ("finally-2", "failed", "RuntimeError: boom"),
    ]
    assert [r for r in ran() if r[0].startswith("failure")] == [
        ("failure-1", "failed", "RuntimeError: boom"),
        ("failure-2", "failed", "RuntimeError: boom"),
    ]
    assert BatchManager().get_batch(batch_id).compensation_status == "completed"


def test_on_finally_runs_for_a_cancelled_batch(queue):
    batch_id = (
        BatchManager()
        .chain([{"class": jobs.Step, "args": {"name": "a"}}, jobs.Square])
        .on_complete(cb("complete"))
        .on_finally(cb("finally"))
        .dispatch()
    )
    assert BatchManager().cancel(batch_id) is True
    queue.run()
    assert ran() == [("finally", "cancelled", "cancelled")]


def test_on_job_failure_callbacks_run_in_order_before_the_outcome(queue):
    BatchManager().batch([jobs.Boom, jobs.Boom]).allow_failures().on_job_failure(
        cb("job-a")
    ).on_job_failure(cb("job-b")).on_failure(cb("failure")).on_finally(cb("finally")).dispatch()
    queue.run()
    assert [r[0] for r in ran()] == ["job-a", "job-b", "job-a", "job-b", "failure", "finally"]


def test_each_outcome_after_a_retry_runs_its_callbacks_once_more(queue):
    m = BatchManager()
    batch_id = (
        m.chain([{"class": jobs.Gate, "args": {"name": "g"}}])
        .on_failure(cb("failure"))
        .on_complete(cb("complete"))
        .on_finally(cb("finally"))
        .dispatch()
    )
    queue.run()
    jobs.Gate.OPEN = True
    m.retry_failed(batch_id)
    queue.run()
    jobs.Gate.OPEN = False
    assert [r[:2] for r in ran()] == [
        ("failure", "failed"),
        ("finally", "failed"),
        ("complete", "completed"),
        ("finally", "completed"),
    ]
