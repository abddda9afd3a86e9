"""Cancel while jobs run, on the recommended worker (contract §4, "Cancel and retry")."""

from __future__ import annotations

import pytest

from tests import reads
from tests.conftest import wait_for
from tests.testapp.jobs import Slow, SlowFail, Undo
from tests.testapp.models import Event

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.usefixtures("each_storage"),
]

WORKER = "django_batchqueue.worker.BatchWorker"


def test_cancel_with_compensation_waits_for_running_jobs_then_undoes_in_reverse_order(
    manager, workers
):
    batch_id = manager.batch(
        [{"class": Slow, "args": {"seconds": 0.6}, "compensation": Undo} for _ in range(10)]
    ).dispatch()
    workers.start(3, worker_class=WORKER)
    wait_for(
        lambda: reads.batch(batch_id).completed_jobs >= 3,
        message="some jobs to complete",
    )
    assert manager.cancel(batch_id, compensate=True) is True
    wait_for(
        lambda: reads.batch(batch_id).compensation_status in ("completed", "failed"),
        message="compensation to finish",
    )
    batch = reads.batch(batch_id)
    assert (batch.status, batch.compensation_status) == ("cancelled", "completed")
    completed = sorted(r.position for r in reads.jobs(batch_id, status="completed"))
    undone = [e.payload["original_position"] for e in Event.objects.filter(label="undo")]
    # Every completed job, including those still running at cancel time, undone once, newest
    # position first, and only after the last running job had finished.
    assert undone == sorted(completed, reverse=True)
    assert {e.payload["error"] for e in Event.objects.filter(label="undo")} == {"batch cancelled"}
    last_job_end = max(r.finished_at for r in reads.jobs(batch_id))
    first_undo = min(r.started_at for r in reads.jobs(batch_id, "compensation"))
    assert first_undo >= last_job_end
    # Jobs not started at cancel time never ran.
    cancelled = len(reads.jobs(batch_id, status="cancelled"))
    assert cancelled == 10 - len(completed)
    assert Event.objects.filter(label="slow_start").count() == len(completed)


def test_a_running_job_that_fails_after_cancel_is_not_retried(manager, workers):
    batch_id = manager.batch([{"class": SlowFail, "args": {"seconds": 1.5}}]).dispatch()
    workers.start(1, worker_class=WORKER)
    wait_for(lambda: Event.objects.filter(label="slow_fail").exists(), message="the job to start")
    assert manager.cancel(batch_id) is True
    wait_for(
        lambda: reads.job(batch_id).status == "failed",
        message="the run to be recorded",
    )
    row = reads.job(batch_id)
    assert (row.attempts, row.error) == (1, "RuntimeError: slow failure 1")
    assert Event.objects.filter(label="slow_fail").count() == 1  # no second attempt
    assert reads.batch(batch_id).status == "cancelled"
