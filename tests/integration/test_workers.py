"""The same batches run by real ``manage.py rqworker`` processes."""

import pytest

from django_batchqueue.models import Batch
from tests.conftest import wait_for
from tests.testapp.jobs import PidJob, Square, Step, SumResults
from tests.testapp.models import Event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_burst_worker_subprocess_runs_a_batch(manager, workers):
    """``manage.py rqworker batchjob --burst`` (RQ's forking worker) against the file database."""
    batch_id = (
        manager.batch([{"class": Square, "args": {"n": n}} for n in range(4)])
        .on_complete(SumResults)
        .dispatch()
    )
    (proc,) = workers.start(1, burst=True)
    assert proc.wait(timeout=120) == 0, proc.stdout.read()
    batch = Batch.objects.get(pk=batch_id)
    assert (batch.status, batch.completed_jobs) == ("completed", 4)
    assert Event.objects.get(label="sum").payload["total"] == 0 + 1 + 4 + 9


@pytest.mark.parametrize("worker_class", ["rq.Worker", "rq.SimpleWorker"])
def test_two_workers_share_a_batch_and_a_chain(manager, workers, worker_class):
    parallel = manager.batch([PidJob] * 12).dispatch()
    chain = manager.chain([{"class": Step, "args": {"name": n}} for n in "abcd"]).dispatch()
    workers.start(2, worker_class=worker_class)
    wait_for(
        lambda: Batch.objects.filter(pk__in=[parallel, chain], status="completed").count() == 2,
        message="both batches to complete",
    )
    assert Batch.objects.get(pk=chain).context["steps"] == list("abcd")
    assert Event.objects.filter(label="pid").count() == 12
