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
