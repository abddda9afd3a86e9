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
    assert proc.wait(timeout=120) == 0, workers.output()
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


def test_a_job_still_running_when_a_strict_batch_fails_is_compensated_once_done(manager, workers):
    from tests.testapp.jobs import Boom, Slow, Undo

    batch_id = manager.batch(
        [
            {"class": Slow, "args": {"seconds": 2}, "compensation": Undo},
            {"class": Boom, "args": {"message": "second job fails"}},
        ]
    ).dispatch()
    workers.start(2, worker_class="rq.SimpleWorker")

    def settled():
        b = Batch.objects.get(pk=batch_id)
        return b.compensation_status in ("completed", "failed") and b

    batch = wait_for(settled, message="compensation to finish")
    assert batch.status == "failed" and batch.error == "RuntimeError: second job fails"
    labels = list(Event.objects.values_list("label", flat=True))
    # The slow job was running when the batch failed; it completed, then it was undone, once.
    assert labels.count("undo") == 1
    assert labels.index("slow_end") < labels.index("undo")
    assert batch.jobs.get(kind="job", position=0).status == "completed"
    assert batch.compensation_status == "completed"


def test_settle_callbacks_wait_for_on_job_failure_callbacks_on_other_workers(manager, workers):
    from tests.testapp.jobs import Boom, SlowCallback

    batch_id = (
        manager.batch([Boom, {"class": Square, "args": {"n": 1}}])
        .allow_failures()
        .on_job_failure({"class": SlowCallback, "args": {"tag": "job_failure"}})
        .on_complete({"class": SlowCallback, "args": {"tag": "complete"}})
        .on_failure({"class": SlowCallback, "args": {"tag": "failure"}})
        .dispatch()
    )
    workers.start(3, worker_class="rq.SimpleWorker")
    wait_for(lambda: Event.objects.filter(label="failure:end").exists(), message="on_failure")
    labels = [e for e in Event.objects.values_list("label", flat=True) if ":" in e]
    assert labels == [
        "job_failure:start",
        "job_failure:end",
        "complete:start",
        "complete:end",
        "failure:start",
        "failure:end",
    ]
    assert Batch.objects.get(pk=batch_id).status == "completed"


def test_queues_with_rqs_json_serializer(manager, workers, clean_redis):
    """With RQ's JSONSerializer a Redis writer cannot hand workers a pickle; batches still run."""
    from django_batchqueue.execution.queues import get_queue

    batch_id = (
        manager.batch([{"class": Square, "args": {"n": n}} for n in range(3)])
        .queue_config("secure")
        .on_complete(SumResults)
        .dispatch()
    )
    (rq_job, *_) = get_queue("secure").get_jobs()
    import json
    import zlib

    data = json.loads(zlib.decompress(clean_redis.hget(rq_job.key, "data")))  # JSON, no pickle
    assert data[0] == "django_batchqueue.execution.runner.perform"
    assert data[2] == [rq_job.args[0]] and data[3] == {}  # the row id, nothing else
    (proc,) = workers.start(
        1, "secure", burst=True, extra=["--serializer", "rq.serializers.JSONSerializer"]
    )
    assert proc.wait(timeout=120) == 0, workers.output()
    assert Batch.objects.get(pk=batch_id).status == "completed"
    assert Event.objects.get(label="sum").payload["total"] == 0 + 1 + 4
