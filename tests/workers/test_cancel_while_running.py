"""Cancel while jobs run, on the recommended worker (contract §4, "Cancel and retry")."""

from __future__ import annotations

import pytest

from django_batchqueue.models import Batch, BatchJob
from tests.conftest import wait_for
from tests.testapp.jobs import Slow, SlowFail, Undo
from tests.testapp.models import Event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

WORKER = "django_batchqueue.worker.BatchWorker"


def test_cancel_with_compensation_waits_for_running_jobs_then_undoes_in_reverse_order(
    manager, workers
):
    batch_id = manager.batch(
        [{"class": Slow, "args": {"seconds": 0.6}, "compensation": Undo} for _ in range(10)]
    ).dispatch()
    workers.start(3, worker_class=WORKER)
    wait_for(
        lambda: Batch.objects.get(pk=batch_id).completed_jobs >= 3,
        message="some jobs to complete",
    )
    assert manager.cancel(batch_id, compensate=True) is True
    wait_for(
        lambda: Batch.objects.get(pk=batch_id).compensation_status in ("completed", "failed"),
        message="compensation to finish",
    )
    batch = Batch.objects.get(pk=batch_id)
    assert (batch.status, batch.compensation_status) == ("cancelled", "completed")
    completed = sorted(
        batch.jobs.filter(kind="job", status="completed").values_list("position", flat=True)
    )
    undone = [e.payload["original_position"] for e in Event.objects.filter(label="undo")]
    # Every completed job, including those still running at cancel time, undone once, newest
    # position first, and only after the last running job had finished.
    assert undone == sorted(completed, reverse=True)
    assert {e.payload["error"] for e in Event.objects.filter(label="undo")} == {"batch cancelled"}
    last_job_end = max(batch.jobs.filter(kind="job").values_list("finished_at", flat=True))
    first_undo = min(batch.jobs.filter(kind="compensation").values_list("started_at", flat=True))
    assert first_undo >= last_job_end
    # Jobs not started at cancel time never ran.
    cancelled = batch.jobs.filter(kind="job", status="cancelled").count()
    assert cancelled == 10 - len(completed)
    assert Event.objects.filter(label="slow_start").count() == len(completed)


def test_a_running_job_that_fails_after_cancel_is_not_retried(manager, workers):
    batch_id = manager.batch([{"class": SlowFail, "args": {"seconds": 1.5}}]).dispatch()
    workers.start(1, worker_class=WORKER)
    wait_for(lambda: Event.objects.filter(label="slow_fail").exists(), message="the job to start")
    assert manager.cancel(batch_id) is True
    row = BatchJob.objects.get(batch_id=batch_id, kind="job")
    wait_for(
        lambda: BatchJob.objects.get(pk=row.pk).status == "failed",
        message="the run to be recorded",
    )
    row.refresh_from_db()
    assert (row.attempts, row.error) == (1, "RuntimeError: slow failure 1")
    assert Event.objects.filter(label="slow_fail").count() == 1  # no second attempt
    assert Batch.objects.get(pk=batch_id).status == "cancelled"
