"""What a live worker says about itself in its RQ key: which job it runs.

Reconcile takes a row of a living simple worker for lost when the worker no longer runs its
RQ job; RQ 3 no longer writes the key's ``current_job`` field, so the batch workers do.
"""

from __future__ import annotations

import pytest
from rq import Worker

from tests import reads
from tests.conftest import wait_for
from tests.integration.test_crashes import FAST, final

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

CLASSES = ["SimpleBatchWorker", "PersistentBatchWorker", "BatchWorker"]


@pytest.mark.parametrize("worker_class", CLASSES)
def test_a_job_running_past_the_reconcile_grace_is_left_to_its_worker(
    manager, workers, worker_class
):
    """One worker runs a 5 s job while the other reconciles every 2 s with a 1 s grace: the
    running row is its worker's, never failed over and started again."""
    batch_id = manager.batch(
        [{"class": "tests.testapp.jobs.Slow", "args": {"seconds": 5}, "max_retries": 2}]
    ).dispatch()
    workers.start(2, worker_class=f"django_batchqueue.worker.{worker_class}", env=FAST)
    batch = final(batch_id, timeout=60)
    row = reads.job(batch_id)
    assert (batch.status, row.attempts, row.error) == ("completed", 1, "")


def test_a_current_job_left_behind_in_the_key_is_corrected_by_the_heartbeat(
    manager, workers, clean_redis
):
    """A key restored from an older snapshot can name a job the worker ended long ago; within
    a beat the field says what the worker runs (nothing, when idle)."""
    workers.start(1, worker_class="django_batchqueue.worker.PersistentBatchWorker", env=FAST)

    def key():
        names = [w.key for w in Worker.all(connection=clean_redis)]
        return names[0] if names else None

    worker_key = wait_for(key, message="the worker to register")
    clean_redis.hset(worker_key, "current_job", "ended-long-ago")
    wait_for(
        lambda: clean_redis.hget(worker_key, "current_job") is None,
        timeout=10,
        message="the heartbeat to clear the stale current_job",
    )
    batch_id = manager.batch(
        [{"class": "tests.testapp.jobs.Slow", "args": {"seconds": 3}}]
    ).dispatch()
    row = wait_for(
        lambda: next(iter(reads.jobs(batch_id, status="running")), None),
        message="the job to start",
    )
    # While it runs, the field names its RQ job (written as it started, and by every beat).
    assert clean_redis.hget(worker_key, "current_job").decode() == row.rq_job_id
    assert final(batch_id).status == "completed"


def test_between_jobs_the_thread_beats_for_rq(clean_redis, settings):
    """RQ beats on its own before every dequeue and after every job (two round trips per
    job); a batch worker whose heartbeat thread runs (and beat recently) leaves that to the
    thread, whose beat extends the key and writes ``last_heartbeat`` itself."""
    from datetime import UTC, datetime, timedelta

    from django_batchqueue.execution.queues import get_queue
    from django_batchqueue.worker import SimpleBatchWorker

    # A long interval: the thread's own next beat cannot land during the test.
    settings.BATCHQUEUE = {**settings.BATCHQUEUE, "WORKER_HEARTBEAT_TTL": 300}

    queue = get_queue("batchjob")
    worker = SimpleBatchWorker([queue], connection=queue.connection)
    worker.bootstrap()
    try:
        # Started with a beat of its own: the key already has the short TTL, not RQ's minutes.
        assert 0 < clean_redis.ttl(worker.key) <= 300
        long_ago = b"2000-01-01T00:00:00.000000Z"
        clean_redis.hset(worker.key, "last_heartbeat", long_ago)
        clean_redis.persist(worker.key)
        worker.heartbeat()  # what RQ's loop calls between jobs
        assert clean_redis.hget(worker.key, "last_heartbeat") == long_ago
        assert clean_redis.ttl(worker.key) == -1  # not sent: the key was left as it was
        assert worker._heartbeat.beat() is False  # a refresh (the key was there)
        beat_at = clean_redis.hget(worker.key, "last_heartbeat").decode()
        when = datetime.strptime(beat_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        assert datetime.now(UTC) - when < timedelta(seconds=5)
        assert 0 < clean_redis.ttl(worker.key) <= worker.heartbeat_ttl
    finally:
        worker._heartbeat.stop()
        worker.teardown()
