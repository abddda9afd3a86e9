"""Reconciliation and outages, in-process: lost enqueues, orphaned runs, stalled batches,
Redis down at dispatch and between chain steps, a dropped database connection."""

import pytest
import rq
from django.core.management import call_command
from django.db import connection
from rq.registry import ScheduledJobRegistry

from django_batchqueue.execution.queues import get_queue, mark_parent_records, reset_queue_cache
from django_batchqueue.execution.reconcile import reconcile
from django_batchqueue.models import Batch, BatchJob
from django_batchqueue.storage import get_storage
from django_batchqueue.testing import drain
from tests import reads
from tests.testapp.jobs import FlakyTwice, Square, Step
from tests.testapp.models import Event

pytestmark = pytest.mark.django_db(transaction=True)

#: Why the Redis-outage tests are SQL storage's: there the database keeps the batch while Redis
#: is down; on Redis storage the state lives in that Redis (dispatch raises at once, recording
#: waits for Redis to return: tests/integration/test_redis_storage.py).
OUTBOX = "the database is the outbox while Redis is down"


@pytest.mark.sql_only(OUTBOX)
def test_redis_down_at_dispatch_stores_the_batch_and_reconcile_enqueues_it_later(
    manager, private_redis, caplog
):
    private_redis.stop()
    batch_id = manager.batch([{"class": Square, "args": {"n": n}} for n in range(3)]).dispatch()
    batch = Batch.objects.get(pk=batch_id)  # stored: the database is the outbox
    assert set(batch.jobs.values_list("status", flat=True)) == {"queued"}
    assert "could not enqueue 3 job(s)" in caplog.text
    private_redis.start()  # back, and empty
    assert get_queue("batchjob").count == 0
    report = reconcile(grace_seconds=0)
    assert report.reenqueued == 3
    assert drain() == 3
    assert Batch.objects.get(pk=batch_id).status == "completed"
    assert reconcile(grace_seconds=0).changed == 0  # nothing left to repair


@pytest.mark.sql_only(OUTBOX)
def test_redis_down_when_a_step_must_enqueue_the_next_one(manager, private_redis):
    batch_id = manager.chain(
        [
            {"class": "tests.testapp.jobs.StopRedis", "args": {"port": private_redis.port}},
            {"class": Step, "args": {"name": "after"}},
        ]
    ).dispatch()
    with pytest.raises(Exception):  # noqa: B017 - RQ itself fails to record its job: Redis is gone
        drain()
    private_redis.proc.wait()
    rows = {r.position: r for r in BatchJob.objects.filter(batch_id=batch_id)}
    assert rows[0].status == "completed" and rows[1].status == "queued"  # nothing lost
    private_redis.start()
    reset_queue_cache()
    assert reconcile(grace_seconds=0).reenqueued == 1
    drain()
    batch = Batch.objects.get(pk=batch_id)
    assert batch.status == "completed" and batch.context["steps"] == ["stop_redis", "after"]


def test_orphaned_run_of_a_dead_worker_is_failed_over_and_retried(manager):
    batch_id = manager.batch([FlakyTwice]).retry(3).dispatch()
    row = reads.job(batch_id)
    # A worker claimed the row, then died: its RQ heartbeat key does not exist.
    claimed = get_storage().claim_and_load(row.pk, row.rq_job_id, "ghost-worker")
    assert claimed is not None
    assert reconcile(grace_seconds=0).orphaned_runs == 1
    row = reads.job(batch_id)
    assert (row.status, row.attempts) == ("queued", 1)
    assert row.error == "WorkerLost: worker ghost-worker died while running the job"
    drain()
    row = reads.job(batch_id)
    assert row.status == "completed" and row.attempts == 3


def test_a_run_on_a_live_worker_is_left_alone(manager, clean_redis):
    batch_id = manager.batch([Square]).dispatch()
    row = reads.job(batch_id)
    get_storage().claim_and_load(row.pk, row.rq_job_id, "busy-worker")
    clean_redis.hset(
        "rq:worker:busy-worker", mapping={"state": "busy", "current_job": row.rq_job_id}
    )
    clean_redis.hset(f"rq:job:{row.rq_job_id}", "status", "started")
    assert reconcile(grace_seconds=0).orphaned_runs == 0
    assert reads.job(batch_id).status == "running"


def test_a_run_whose_rq_job_failed_without_an_outcome(manager, clean_redis):
    batch_id = manager.batch([{"class": Square, "args": {"n": 1}}]).dispatch()
    row = reads.job(batch_id)
    get_storage().claim_and_load(row.pk, row.rq_job_id, "")  # no worker name known
    clean_redis.hset(f"rq:job:{row.rq_job_id}", "status", "failed")
    assert reconcile(grace_seconds=0).orphaned_runs == 1
    assert reads.job(batch_id).status == "failed"  # no retries left
    assert reads.batch(batch_id).status == "failed"


def test_an_ended_rq_job_on_a_live_batch_worker_is_left_to_its_parent(manager, clean_redis):
    """A BatchWorker's parent records the outcome just after the horse (and the RQ job) ended:
    reconcile must not fail that run over in between; once the worker is gone, it does."""
    batch_id = manager.batch([{"class": Square, "args": {"n": 1}}]).retry(1).dispatch()
    row = reads.job(batch_id)
    get_storage().claim_and_load(row.pk, row.rq_job_id, "batch-worker")
    clean_redis.hset("rq:worker:batch-worker", "state", "busy")
    clean_redis.hset("rq:job:" + row.rq_job_id, "status", "finished")
    plain = reconcile(grace_seconds=0)  # an RQ worker that records nothing itself
    assert plain.orphaned_runs == 1, plain.details
    row = reads.job(batch_id)
    drain_row = get_storage().claim_and_load(row.pk, row.rq_job_id, "batch-worker")
    assert drain_row is not None  # the retry, claimed again by the same worker
    clean_redis.hset("rq:job:" + row.rq_job_id, "status", "finished")
    mark_parent_records(clean_redis, "rq:worker:batch-worker")
    assert reconcile(grace_seconds=0).orphaned_runs == 0
    assert reads.job(batch_id).status == "running"
    clean_redis.delete("rq:worker:batch-worker")  # the worker died before recording
    assert reconcile(grace_seconds=0).orphaned_runs == 1


def test_a_batch_whose_last_job_completed_but_did_not_settle(manager):
    batch_id = (
        manager.batch([{"class": Square, "args": {"n": 2}}])
        .on_complete("tests.testapp.jobs.RecordCallback")
        .dispatch()
    )
    row = reads.job(batch_id)
    claimed = get_storage().claim_and_load(row.pk, row.rq_job_id, "w")
    get_storage().complete_and_count(claimed, 4)  # the settle step never happened
    assert reads.batch(batch_id).status == "pending"
    report = reconcile(grace_seconds=0)
    assert report.stalled_batches == 1
    drain()
    assert reads.batch(batch_id).status == "completed"
    assert Event.objects.filter(label="callback:cb").count() == 1
    assert reconcile(grace_seconds=0).stalled_batches == 0


@pytest.mark.xfail(
    int(rq.__version__.split(".")[0]) < 3,
    reason="on rq 2.x the promoted retry is found twice in the queue (seen with rq 2.0-2.4 and "
    "django-rq 3.1); harmless, a row runs only once for its RQ job id, but not yet explained",
    strict=False,
)
def test_due_delayed_retries_are_promoted_without_an_rq_scheduler(manager):
    batch_id = manager.batch([FlakyTwice]).retry(2, delay=0.01).dispatch()
    drain(max_jobs=1)
    registry = ScheduledJobRegistry(queue=get_queue("batchjob"))
    assert registry.count == 1
    import time

    time.sleep(1.1)  # RQ schedules with 1 s resolution
    assert reconcile(grace_seconds=0).promoted_retries == 1
    assert registry.count == 0 and get_queue("batchjob").count == 1
    drain()
    assert reads.job(batch_id).status == "completed"


def test_reconcile_command(manager):
    from io import StringIO

    out = StringIO()
    call_command("batchqueue_reconcile", "--grace=0", stdout=out)
    assert (
        out.getvalue()
        .strip()
        .endswith(
            "Reconciled: 0 orphaned run(s) failed over, 0 job(s) re-enqueued, 0 delayed retries "
            "promoted, 0 stalled batch(es) moved on."
        )
    )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs a server session to drop")
def test_a_database_connection_dropped_during_a_job_leads_to_a_retry(manager):
    batch_id = manager.batch(["tests.testapp.jobs.DropDbConnection"]).dispatch()
    assert drain() == 2
    row = BatchJob.objects.get(batch_id=batch_id)
    assert (row.status, row.attempts, row.result) == ("completed", 2, "ok")
    assert row.error.startswith(("OperationalError", "InterfaceError")), row.error
