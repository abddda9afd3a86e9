"""The same batches run by real ``manage.py rqworker`` processes."""

import pytest

from tests import reads
from tests.conftest import wait_for
from tests.testapp.jobs import (
    Boom,
    FlakyTwice,
    HorseConnection,
    PidJob,
    RecordCallback,
    Square,
    Step,
    SumResults,
)
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
    batch = reads.batch(batch_id)
    assert (batch.status, batch.completed_jobs) == ("completed", 4)
    assert Event.objects.get(label="sum").payload["total"] == 0 + 1 + 4 + 9


@pytest.mark.parametrize(
    "worker_class",
    [
        "rq.Worker",
        "rq.SimpleWorker",
        "django_batchqueue.worker.BatchWorker",
        "django_batchqueue.worker.SimpleBatchWorker",
    ],
)
def test_two_workers_share_a_batch_and_a_chain(manager, workers, worker_class):
    parallel = manager.batch([PidJob] * 12).dispatch()
    chain = manager.chain([{"class": Step, "args": {"name": n}} for n in "abcd"]).dispatch()
    workers.start(2, worker_class=worker_class)
    wait_for(
        lambda: all(reads.batch(b).status == "completed" for b in (parallel, chain)),
        message="both batches to complete",
    )
    assert reads.batch(chain).context["steps"] == list("abcd")
    assert Event.objects.filter(label="pid").count() == 12


def test_a_job_still_running_when_a_strict_batch_fails_is_compensated_once_done(manager, workers):
    from tests.testapp.jobs import BoomOnceStarted, Slow, Undo

    batch_id = manager.batch(
        [
            {"class": Slow, "args": {"seconds": 2}, "compensation": Undo},
            {
                "class": BoomOnceStarted,
                "args": {"after": "slow_start", "message": "second job fails"},
            },
        ]
    ).dispatch()
    workers.start(2, worker_class="rq.SimpleWorker")

    def settled():
        b = reads.batch(batch_id)
        return b.compensation_status in ("completed", "failed") and b

    batch = wait_for(settled, message="compensation to finish")
    assert batch.status == "failed" and batch.error == "RuntimeError: second job fails"
    labels = list(Event.objects.values_list("label", flat=True))
    # The slow job was running when the batch failed; it completed, then it was undone, once.
    assert labels.count("undo") == 1
    assert labels.index("slow_end") < labels.index("undo")
    assert reads.job(batch_id, position=0).status == "completed"
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
    assert reads.batch(batch_id).status == "completed"


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
    assert reads.batch(batch_id).status == "completed"
    assert Event.objects.get(label="sum").payload["total"] == 0 + 1 + 4


def test_batch_worker_parent_claims_and_records_while_the_horse_only_runs_the_job(manager, workers):
    """BatchWorker's horses start without a database connection; their outcomes (results,
    retries, failures, chain context) are recorded by the parent, and a job's own writes land."""
    parallel = (
        manager.batch(
            [HorseConnection] * 6 + [FlakyTwice, {"class": Boom, "args": {"message": "no"}}]
        )
        .allow_failures()
        .on_complete(RecordCallback)
        .on_failure(RecordCallback)
        .dispatch()
    )
    chain = manager.chain([{"class": Step, "args": {"name": n}} for n in "xyz"]).dispatch()
    (proc,) = workers.start(1, worker_class="django_batchqueue.worker.BatchWorker")
    wait_for(
        lambda: all(reads.batch(b).status in ("completed", "failed") for b in (parallel, chain)),
        message="both batches to settle",
    )
    results = manager.get_results(parallel)
    horses = [r for r in results.values() if isinstance(r, dict) and "had_connection" in r]
    assert len(horses) == 6
    assert not any(h["had_connection"] for h in horses), horses
    assert len({h["pid"] for h in horses}) == 6  # a horse per job
    assert proc.pid not in {h["pid"] for h in horses}
    assert Event.objects.filter(label="horse").count() == 6  # the horses' own writes
    batch = reads.batch(parallel)
    assert (batch.status, batch.completed_jobs, batch.failed_jobs) == ("completed", 7, 1)
    rows = reads.jobs(parallel)
    (flaky,) = [r for r in rows if r.job_path.endswith("FlakyTwice")]
    assert (flaky.status, flaky.attempts, flaky.result) == ("completed", 3, {"attempts": 3})
    boom_at = next(r.position for r in rows if r.job_path.endswith("Boom"))
    boom = reads.job(parallel, position=boom_at)  # whole, with its traceback
    assert (boom.status, boom.error) == ("failed", "RuntimeError: no")
    assert "raise RuntimeError(message)" in boom.traceback
    callbacks = Event.objects.filter(label="callback:cb").order_by("id")
    wait_for(lambda: callbacks.count() >= 2, message="on_complete, then on_failure")
    assert [c.payload["error"] for c in callbacks] == [None, "1 of 8 jobs failed"]  # once each
    assert reads.batch(chain).context["steps"] == list("xyz")
    assert all(r.worker_name for r in reads.jobs(parallel, None))
