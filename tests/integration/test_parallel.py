"""Parallel batches (contract §4, strict mode and results), run through drain()."""

import pytest
from django.db import transaction

from django_batchqueue.execution.queues import get_queue
from django_batchqueue.models import Batch
from django_batchqueue.testing import drain
from tests.reads import batch as read_batch
from tests.reads import job, jobs
from tests.testapp.jobs import Boom, Echo, RecordCallback, Square, SumResults
from tests.testapp.models import Event, labels

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("each_storage")]


def test_every_accepted_definition_form_runs(manager):
    batch_id = (
        manager.batch(
            [
                {"class": Echo, "args": {"a": 1}},
                {"class": "tests.testapp.jobs.Echo", "args": {"b": 2}},
                Echo,
                "tests.testapp.jobs.Echo",
                None,
                [Echo, "tests.testapp.jobs.Undo"],
                ("tests.testapp.jobs.Echo", "tests.testapp.jobs.Undo"),
                {"class": Echo, "args": {"c": 3}, "compensation": "tests.testapp.jobs.Undo"},
                False,
                {"class": "tests.testapp.jobs.add", "args": {"a": 2, "b": 3}},
                {"class": Echo, "args": {}, "max_retries": 2, "timeout": 30},
            ]
        )
        .set_context({"shared": True})
        .dispatch()
    )
    drain()
    batch = read_batch(batch_id)
    assert (batch.status, batch.total_jobs, batch.completed_jobs) == ("completed", 9, 9)
    assert batch.has_compensation
    rows = jobs(batch_id)
    assert [j.position for j in rows] == list(range(9))
    assert rows[0].result["args"] == {"a": 1} and rows[1].result["args"] == {"b": 2}
    assert rows[2].result["args"] == {} and rows[2].result["context"] == {"shared": True}
    assert rows[4].compensation_path == "tests.testapp.jobs.Undo"
    assert rows[7].result == 5  # the @job function
    assert (rows[8].max_retries, rows[8].timeout) == (2, 30)
    assert all(j.result["position"] == j.position for j in rows if isinstance(j.result, dict))


def test_results_in_position_order_and_single_result(manager):
    batch_id = manager.batch([{"class": Square, "args": {"n": n}} for n in (3, 1, 2)]).dispatch()
    drain()
    results = manager.get_results(batch_id)
    assert list(results.values()) == [9, 1, 4]
    ids = [r.id for r in jobs(batch_id)]
    assert list(results) == [str(i) for i in ids]
    assert manager.get_job_result(batch_id, ids[1]) == 1


def test_progress_while_running_and_when_done(manager):
    batch_id = manager.batch([{"class": Square, "args": {"n": n}} for n in range(4)]).dispatch()
    progress = manager.get_progress(batch_id)
    assert progress["status"] == "pending" and progress["progress_percentage"] == 0
    assert progress["pending_jobs"] == 4
    drain(max_jobs=1)
    progress = manager.get_progress(batch_id)
    assert progress["status"] == "running"
    assert (progress["completed_jobs"], progress["pending_jobs"]) == (1, 3)
    assert progress["progress_percentage"] == 25
    drain()
    progress = manager.get_progress(batch_id)
    assert progress["status"] == "completed" and progress["progress_percentage"] == 100
    assert progress["finished_at"] is not None
    assert set(progress) == {
        "id",
        "type",
        "status",
        "total_jobs",
        "completed_jobs",
        "failed_jobs",
        "cancelled_jobs",
        "pending_jobs",
        "progress_percentage",
        "has_compensation",
        "compensation_status",
        "created_at",
        "finished_at",
        "leaf",  # contract §9: the counters over the leaf jobs (the batch's own, unnested)
    }
    assert progress["leaf"] == {
        "total_jobs": 4,
        "completed_jobs": 4,
        "failed_jobs": 0,
        "cancelled_jobs": 0,
    }


def test_map_reduce_on_complete_runs_once_with_the_outcome(manager):
    batch_id = (
        manager.batch([{"class": Square, "args": {"n": n}} for n in range(10)])
        .on_complete(SumResults)
        .on_failure(RecordCallback)
        .dispatch()
    )
    drain()
    assert [e.payload for e in Event.objects.filter(label="sum")] == [
        {"total": 285, "status": "completed"}
    ]
    assert labels("callback:") == []  # on_failure never ran
    callback = job(batch_id, "callback")
    assert (callback.event, callback.status, callback.result) == ("on_complete", "completed", 285)


def test_strict_failure_cancels_unstarted_jobs_and_runs_on_failure_once(manager):
    batch_id = (
        manager.batch(
            [
                {"class": Square, "args": {"n": 1}},
                {"class": Boom, "args": {"message": "card declined"}},
            ]
            + [{"class": Square, "args": {"n": n}} for n in range(2, 6)]
        )
        .on_complete(SumResults)
        .on_failure({"class": RecordCallback, "args": {"tag": "fail"}})
        .dispatch()
    )
    drain()
    batch = read_batch(batch_id)
    assert batch.status == "failed"
    assert (batch.completed_jobs, batch.failed_jobs, batch.cancelled_jobs) == (1, 1, 4)
    assert batch.error == "RuntimeError: card declined"
    # Jobs queued on RQ before the failure were skipped by the worker, never run.
    assert [e.payload["n"] for e in Event.objects.filter(label="square")] == [1]
    assert {r.status for r in jobs(batch_id, position__gte=2)} == {"cancelled"}
    (cb,) = Event.objects.filter(label="callback:fail")
    assert cb.payload == {
        "batch_id": batch_id,
        "status": "failed",
        "error": "RuntimeError: card declined",
        "extra": {},
    }
    assert not Event.objects.filter(label="sum").exists()
    assert manager.get_progress(batch_id)["progress_percentage"] == 100


@pytest.mark.sql_only("dispatch joins the caller's database transaction")
def test_enqueue_waits_for_the_outer_transaction(manager):
    queue = get_queue("batchjob")
    with transaction.atomic():
        manager.batch([Square, Square]).dispatch()
        assert queue.count == 0
    assert queue.count == 2
    with pytest.raises(RuntimeError), transaction.atomic():
        manager.batch([Square]).dispatch()
        raise RuntimeError("rolled back")
    assert queue.count == 2
    assert Batch.objects.count() == 1


def test_rq_jobs_carry_only_the_row_id(manager):
    batch_id = (
        manager.batch([{"class": Square, "args": {"n": 12345}}])
        .set_context({"secret": "context-value"})
        .dispatch()
    )
    queue = get_queue("batchjob")
    (rq_job,) = queue.get_jobs()
    row = job(batch_id)
    assert rq_job.args == (str(row.pk),) and rq_job.kwargs == {}
    assert rq_job.id == row.rq_job_id
    raw = b"".join(v for v in queue.connection.hgetall(rq_job.key).values())
    assert b"12345" not in raw and b"context-value" not in raw


def test_non_json_result_fails_the_job_with_a_clear_error(manager):
    batch_id = manager.batch(["tests.testapp.jobs.BadResult"]).dispatch()
    drain()
    row = job(batch_id)
    assert row.status == "failed"
    assert "result['when'] is not JSON-serializable: object of type object" in row.error
    assert read_batch(batch_id).status == "failed"


def test_dispatch_returns_a_uuid_string(manager):
    import uuid

    batch_id = manager.batch([Square]).dispatch()
    assert isinstance(batch_id, str) and uuid.UUID(batch_id)


def test_module_shortcuts():
    import django_batchqueue

    b = django_batchqueue.batch([Square]).dispatch()
    c = django_batchqueue.chain([Square]).dispatch()
    assert read_batch(b).type == "parallel"
    assert read_batch(c).type == "sequential"


@pytest.mark.sql_only("ASYNC_JOB_COMMITS tunes SQL storage's commits")
@pytest.mark.parametrize("async_commits", [True, False])
def test_parallel_batch_with_and_without_async_job_commits(manager, settings, async_commits):
    """ASYNC_JOB_COMMITS changes how PostgreSQL commits claims and completions, not results."""
    from django.db import connection

    from django_batchqueue.storage.sql import hotpath

    settings.BATCHQUEUE = {**settings.BATCHQUEUE, "ASYNC_JOB_COMMITS": async_commits}
    claim_sql, _ = hotpath._claim_sql(connection.alias, connection.vendor, True, async_commits)
    complete_sql, _ = hotpath._complete_sql(connection.alias, connection.vendor, async_commits)
    uses_async = connection.vendor == "postgresql" and async_commits
    assert ("synchronous_commit" in claim_sql) is uses_async
    assert ("synchronous_commit" in complete_sql) is uses_async
    batch_id = (
        manager.batch([{"class": Square, "args": {"n": n}} for n in range(5)])
        .on_complete(SumResults)
        .dispatch()
    )
    drain()
    batch = Batch.objects.get(pk=batch_id)
    assert (batch.status, batch.completed_jobs) == ("completed", 5)
    assert Event.objects.get(label="sum").payload["total"] == 0 + 1 + 4 + 9 + 16
