"""Worker crashes with real worker processes (issue "reliability")."""

import os
import signal
import time

import pytest
from django.core.management import call_command
from django.db import connection

from tests import reads
from tests.conftest import wait_for
from tests.testapp.models import Event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

FAST = {  # shortened liveness and reconcile timings for worker subprocesses
    "BATCHQUEUE_TEST_HEARTBEAT_TTL": "3",
    "BATCHQUEUE_TEST_RECONCILE_INTERVAL": "2",
    "BATCHQUEUE_TEST_RECONCILE_GRACE": "1",
}


def final(batch_id, timeout=60):
    def done():
        b = reads.batch(batch_id)
        return b if b.status in ("completed", "failed", "cancelled") else None

    return wait_for(done, timeout=timeout, message=f"batch {batch_id} to finish")


def test_a_killed_work_horse_is_recorded_at_once_and_retried(manager, workers):
    batch_id = manager.batch([{"class": "tests.testapp.jobs.KillMe", "max_retries": 1}]).dispatch()
    workers.start(1, worker_class="django_batchqueue.worker.BatchWorker", env=FAST)
    batch = final(batch_id)
    row = reads.job(batch_id)
    assert (batch.status, row.status, row.attempts, row.result) == (
        "completed",
        "completed",
        2,
        "survived",
    )
    assert row.error == "WorkerLost: the work horse was killed by signal 9 while running the job"


def test_a_killed_work_horse_without_retries_fails_the_batch_once(manager, workers):
    batch_id = (
        manager.batch(["tests.testapp.jobs.KillMe"])
        .on_failure("tests.testapp.jobs.RecordCallback")
        .dispatch()
    )
    workers.start(1, worker_class="django_batchqueue.worker.BatchWorker", env=FAST)
    batch = final(batch_id)
    assert batch.status == "failed" and batch.error.startswith("WorkerLost: the work horse was")
    wait_for(lambda: Event.objects.filter(label="callback:cb").exists(), message="on_failure")
    time.sleep(1)
    assert Event.objects.filter(label="callback:cb").count() == 1


def test_a_worker_killed_outright_is_noticed_by_another_worker(manager, workers):
    batch_id = manager.batch([{"class": "tests.testapp.jobs.Hang", "max_retries": 1}]).dispatch()
    (victim,) = workers.start(
        1, worker_class="django_batchqueue.worker.SimpleBatchWorker", env=FAST
    )
    wait_for(lambda: Event.objects.filter(label="hang").exists(), message="the job to start")
    workers.start(1, worker_class="django_batchqueue.worker.BatchWorker", env=FAST)
    killed_at = time.monotonic()
    os.killpg(victim.pid, signal.SIGKILL)  # worker and job die together, nothing is recorded
    victim.wait()
    row = reads.job(batch_id)
    wait_for(
        lambda: reads.job(batch_id).attempts == 2 or None,
        timeout=60,
        message="the job to be retried",
    )
    noticed_after = time.monotonic() - killed_at
    batch = final(batch_id)
    row = reads.job(batch_id)
    assert batch.status == "completed" and row.result == "done"
    assert row.error.startswith(f"WorkerLost: worker {row.worker_name}") or row.error.startswith(
        "WorkerLost: worker"
    )
    # heartbeat TTL 3 s + reconcile every 2 s + grace 1 s, plus process start-up slack
    assert noticed_after < 20, noticed_after
    print(f"\nkilled worker noticed and job retried after {noticed_after:.1f}s")


def test_plain_rq_worker_crash_is_repaired_by_the_reconcile_command(manager, workers):
    batch_id = manager.batch([{"class": "tests.testapp.jobs.KillMe", "max_retries": 1}]).dispatch()
    workers.start(1, worker_class="rq.Worker")
    wait_for(lambda: Event.objects.filter(label="killme").exists(), message="the job to start")
    row = reads.job(batch_id)
    # RQ's own worker records the dead horse in Redis only; the row is still "running".
    wait_for(lambda: reads.job(batch_id).status == "running" or None, timeout=10)
    time.sleep(2)
    call_command("batchqueue_reconcile", "--grace=0")
    batch = final(batch_id)
    row = reads.job(batch_id)
    assert (batch.status, row.attempts) == ("completed", 2)
    assert "without recording an outcome" in row.error, row.error


@pytest.mark.parametrize(
    ("worker_class", "writes_survive"),
    [
        pytest.param("tests.testapp.workers.BusyParentBatchWorker", True, id="BatchWorker"),
        pytest.param(
            "tests.testapp.workers.LeakyWorker",
            False,
            id="naive-fork",
            marks=pytest.mark.skipif(
                connection.vendor != "postgresql", reason="shows the hazard on a server connection"
            ),
        ),
    ],
)
def test_a_job_killed_inside_a_transaction_cannot_swallow_later_writes(
    manager, workers, worker_class, writes_survive
):
    first = manager.batch(["tests.testapp.jobs.KillHorseInTransaction"]).dispatch()
    second = manager.batch([{"class": "tests.testapp.jobs.Square", "args": {"n": 5}}]).dispatch()
    workers.start(1, worker_class=worker_class, env=FAST)
    if writes_survive:
        assert final(second).status == "completed"
        assert Event.objects.filter(label="square").count() == 1
        assert not Event.objects.filter(label="written_by_killed_job").exists()
        assert reads.job(first).error.startswith("WorkerLost")
    else:
        # The naive worker's second horse writes into the killed horse's open transaction:
        # nothing it does ever commits. This is the failure BatchWorker prevents.
        from django_batchqueue.execution.queues import get_queue

        second_row = str(reads.job(second).pk)
        wait_for(
            lambda: get_queue("batchjob").count == 0 and second_row in workers.output(),
            message="the worker to take the second job",
        )
        time.sleep(5)
        assert not Event.objects.filter(label="square").exists()
        assert reads.batch(second).status == "pending"


def test_a_work_horse_that_exits_is_recorded_with_its_exit_code(manager, workers):
    batch_id = manager.batch(
        [{"class": "tests.testapp.jobs.exit_hard", "args": {"code": 3}}]
    ).dispatch()
    workers.start(1, worker_class="django_batchqueue.worker.BatchWorker", env=FAST)
    batch = final(batch_id)
    row = reads.job(batch_id)
    assert (batch.status, row.status) == ("failed", "failed")
    assert row.error == "WorkerLost: the work horse exited with code 3 while running the job"
