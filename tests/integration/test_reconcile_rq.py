"""Reconcile judges rows from what RQ really holds, not from a status a dead worker left
behind: jobs popped or started by a worker that died, healthy rows ahead of lost ones."""

from __future__ import annotations

import pytest

from django_batchqueue.execution.queues import KEEPS_CURRENT_JOB_FIELD as KEEPS
from django_batchqueue.execution.queues import get_queue
from django_batchqueue.execution.reconcile import reconcile
from django_batchqueue.storage import get_storage
from django_batchqueue.testing import drain
from tests import reads
from tests.testapp.jobs import Square

pytestmark = pytest.mark.django_db(transaction=True)


def _only_row(batch_id):
    return reads.job(batch_id)


def test_a_job_popped_by_a_worker_that_died_is_enqueued_again(manager, clean_redis):
    batch_id = manager.batch([{"class": Square, "args": {"n": 3}}]).dispatch()
    row = _only_row(batch_id)
    queue = get_queue("batchjob")
    # A worker moved it to the intermediate list, as RQ's dequeue does, and died there.
    clean_redis.lmove(queue.key, queue.intermediate_queue_key)
    assert clean_redis.hget(f"rq:job:{row.rq_job_id}", "status") == b"queued"
    report = reconcile(grace_seconds=0)
    assert report.reenqueued == 1, report.details
    assert "its RQ job was stranded" in report.details[0]
    fresh = _only_row(batch_id)
    assert fresh.status == "queued" and fresh.rq_job_id != row.rq_job_id
    assert drain() == 1
    assert reads.batch(batch_id).status == "completed"


def test_a_job_started_by_a_worker_that_died_before_claiming_its_row(manager, clean_redis):
    batch_id = manager.batch([{"class": Square, "args": {"n": 3}}]).dispatch()
    row = _only_row(batch_id)
    queue = get_queue("batchjob")
    clean_redis.lpop(queue.key)
    started = {"status": "started", "worker_name": "gone"}
    clean_redis.hset(f"rq:job:{row.rq_job_id}", mapping=started)
    assert reconcile(grace_seconds=0).reenqueued == 1
    assert drain() == 1
    assert reads.batch(batch_id).status == "completed"


def test_a_job_a_live_worker_started_is_left_to_it(manager, clean_redis):
    batch_id = manager.batch([{"class": Square, "args": {"n": 3}}]).dispatch()
    row = _only_row(batch_id)
    clean_redis.lpop(get_queue("batchjob").key)
    clean_redis.hset(f"rq:job:{row.rq_job_id}", mapping={"status": "started", "worker_name": "w1"})
    clean_redis.hset("rq:worker:w1", mapping={"state": "busy", "current_job": row.rq_job_id})
    report = reconcile(grace_seconds=0)
    assert report.changed == 0, report.details
    assert _only_row(batch_id).rq_job_id == row.rq_job_id


def test_a_job_a_live_batch_worker_started_but_no_longer_runs_is_enqueued_again(
    manager, clean_redis
):
    """Redis restarted from a snapshot taken after RQ started the job but before the row was
    claimed: RQ says a live worker started it, the worker says it runs something else."""
    batch_id = manager.batch([{"class": Square, "args": {"n": 3}}]).dispatch()
    row = _only_row(batch_id)
    clean_redis.lpop(get_queue("batchjob").key)
    clean_redis.hset(f"rq:job:{row.rq_job_id}", mapping={"status": "started", "worker_name": "w1"})
    clean_redis.hset(
        "rq:worker:w1", mapping={"state": "busy", "current_job": "another", KEEPS: "1"}
    )
    report = reconcile(grace_seconds=0)
    assert report.reenqueued == 1, report.details
    assert drain() == 1
    assert manager.get_batch(batch_id).status == "completed"


def test_a_plain_rq3_worker_that_names_no_job_is_trusted_with_its_runs(manager, clean_redis):
    """RQ 3 does not write ``current_job``: a plain worker's silence is not "moved on"."""
    batch_id = manager.batch([{"class": Square, "args": {"n": 3}}]).dispatch()
    row = _only_row(batch_id)
    clean_redis.lpop(get_queue("batchjob").key)
    clean_redis.hset(f"rq:job:{row.rq_job_id}", mapping={"status": "started", "worker_name": "w1"})
    clean_redis.hset("rq:worker:w1", mapping={"state": "busy"})
    assert reconcile(grace_seconds=0).changed == 0
    get_storage().claim_and_load(row.pk, row.rq_job_id, "w1")
    report = reconcile(grace_seconds=0)
    assert report.changed == 0, report.details
    assert _only_row(batch_id).status == "running"


def test_lost_rows_are_found_behind_any_number_of_healthy_ones(manager, clean_redis):
    healthy = [
        manager.batch([{"class": Square, "args": {"n": n}} for n in range(25)]).dispatch()
        for _ in range(4)
    ]
    lost = manager.batch([{"class": Square, "args": {"n": n}} for n in range(5)]).dispatch()
    queue = get_queue("batchjob")
    lost_rows = reads.jobs(lost, status="queued")
    for row in lost_rows:
        clean_redis.delete(f"rq:job:{row.rq_job_id}")
        clean_redis.lrem(queue.key, 0, row.rq_job_id)
    queued = sum(len(reads.jobs(b, status="queued")) for b in [*healthy, lost])
    assert queued - len(lost_rows) > 10  # the healthy queued rows alone fill more than a step
    report = reconcile(grace_seconds=0, limit=10)  # ten rows a step, the lost ones come last
    assert (report.examined, report.reenqueued) == (queued, len(lost_rows)), report.details
    assert all("its RQ job was missing" in line for line in report.details)
    assert drain() == 4 * 25 + 5
    assert {reads.batch(b).status for b in [*healthy, lost]} == {"completed"}
    assert reconcile(grace_seconds=0).changed == 0


def test_a_live_batch_worker_that_never_recorded_an_ended_run_is_failed_over(manager, clean_redis):
    """A forking worker's parent records a run right after its RQ job ends; a run whose RQ job
    ended long ago on a parent that moved on was never going to be (it lost its database)."""
    from django.utils import timezone
    from rq.utils import utcformat

    from django_batchqueue.execution.queues import mark_parent_records
    from django_batchqueue.storage import get_storage

    batch_id = manager.batch([{"class": Square, "args": {"n": 2}}]).retry(1).dispatch()
    row = _only_row(batch_id)
    get_storage().claim_and_load(row.pk, row.rq_job_id, "parent")
    # An idle batch worker: its hash names no job, and it keeps that field true.
    clean_redis.hset("rq:worker:parent", mapping={"state": "idle", KEEPS: "1"})
    mark_parent_records(clean_redis, "rq:worker:parent")
    key = f"rq:job:{row.rq_job_id}"
    just_now = utcformat(timezone.now())
    clean_redis.hset(key, mapping={"status": "finished", "ended_at": just_now})
    assert reconcile(grace_seconds=0).orphaned_runs == 0  # the parent is recording it now
    long_ago = utcformat(timezone.now() - timezone.timedelta(minutes=5))
    clean_redis.hset(key, "ended_at", long_ago)
    report = reconcile(grace_seconds=0)
    assert report.orphaned_runs == 1, report.details
    assert "did not record an outcome" in report.details[0]
    assert _only_row(batch_id).status == "queued"  # retried
