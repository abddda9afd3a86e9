"""Worker parity: the contract's core behaviours on every execution path a user can choose.

Each path runs the same set of batches, dispatched together: ``drain()`` in this process, and
real ``manage.py rqworker`` processes of RQ's two worker classes and of the two this app ships.
The values are the ones users really pass (Decimals, datetimes, UUIDs in results and contexts).
Every behaviour is a subtest, so one run reports each behaviour on each path. The same run is
repeated on Redis storage (``STORAGE = "redis"``) on the paths users pick for it; the checks read
through ``BatchManager`` and the storage interface, never the models, so they hold on both, and
on Redis storage the ``Batch`` / ``BatchJob`` tables must stay empty.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import pytest

from django_batchqueue.models import Batch, BatchJob
from django_batchqueue.storage import get_storage
from django_batchqueue.storage.base import JobQuery
from django_batchqueue.testing import drain
from tests.conftest import wait_for
from tests.testapp import jobs
from tests.testapp.models import Event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

PATHS = [
    "drain",
    "rq.SimpleWorker",
    "rq.Worker",
    "django_batchqueue.worker.SimpleBatchWorker",
    "django_batchqueue.worker.BatchWorker",
    "django_batchqueue.worker.PersistentBatchWorker",
]
#: (storage, path) pairs: every path on SQL storage; on Redis storage drain(), RQ's simple
#: worker and the two forking workers this app ships.
RUNS = [("sql", p) for p in PATHS] + [
    ("redis", p)
    for p in (
        "drain",
        "rq.SimpleWorker",
        "django_batchqueue.worker.BatchWorker",
        "django_batchqueue.worker.PersistentBatchWorker",
    )
]


def _rows(batch_id: str, kind: str, order: str = "position") -> list:
    query = JobQuery(batch_id=uuid.UUID(str(batch_id)), kind=kind, order=order)
    return get_storage().list_jobs(query, 0, 1000)


def _row(batch_id: str, kind: str):
    (row,) = _rows(batch_id, kind)
    return row


def _dispatch_all(manager) -> dict[str, str]:
    """One batch per behaviour; returns their ids by name."""
    m = manager
    ids = {}
    ids["map_reduce"] = (
        m.batch([{"class": jobs.PriceValues, "args": {"n": n}} for n in range(1, 6)])
        .set_context({"rate": Decimal("1.5"), "since": jobs.WHEN, "ref": jobs.REF})
        .on_complete(jobs.SumDecimals)
        .dispatch()
    )
    ids["chain"] = (
        m.chain([jobs.StampValues, jobs.passthrough, jobs.ReadValues])
        .set_context({"via": "parity", "started": jobs.WHEN})
        .on_complete(jobs.callback_function)
        .dispatch()
    )
    ids["saga"] = (
        m.chain(
            [
                {"class": jobs.Step, "args": {"name": "reserve"}, "compensation": jobs.Undo},
                [jobs.StampValues, jobs.undo_function],
                {"class": jobs.Boom, "args": {"message": "card declined"}},
                {"class": jobs.Step, "args": {"name": "never"}},
            ]
        )
        .on_failure({"class": jobs.RecordCallback, "args": {"tag": "saga"}})
        .dispatch()
    )
    ids["callbacks"] = (
        m.batch([{"class": jobs.Square, "args": {"n": 3}}, jobs.Boom])
        .allow_failures()
        .on_job_failure({"class": jobs.RecordCallback, "args": {"tag": "job_failure"}})
        .on_complete({"class": jobs.RecordCallback, "args": {"tag": "complete"}})
        .on_complete({"class": jobs.RecordCallback, "args": {"tag": "complete-2"}})
        .on_failure({"class": jobs.RecordCallback, "args": {"tag": "failure"}})
        .on_finally({"class": jobs.RecordCallback, "args": {"tag": "finally"}})
        .dispatch()
    )
    ids["retry"] = m.batch([jobs.FlakyTwice]).dispatch()
    ids["timeout"] = m.batch([jobs.NeverEnds]).dispatch()
    ids["non_json"] = m.batch([jobs.BadResult]).dispatch()
    return ids


def _run(path: str, workers, ids: dict[str, str], storage: str) -> None:
    if path == "drain":
        drain()
    else:
        workers.start(2, worker_class=path, env={"BATCHQUEUE_TEST_STORAGE": storage})

    def settled():
        for batch_id in ids.values():
            batch = get_storage().get_batch(uuid.UUID(batch_id))
            if batch is None or batch.status in ("pending", "running"):
                return False
            if batch.compensation_status == "running" or batch.finalized_at is None:
                return False
            for kind in ("callback", "compensation"):
                if any(r.status in ("pending", "queued", "running") for r in _rows(batch_id, kind)):
                    return False
        return True

    wait_for(settled, timeout=90, message=f"every batch to settle on {path}")


def _callbacks(tag: str) -> list[dict]:
    return [e.payload for e in Event.objects.filter(label=f"callback:{tag}")]


@pytest.fixture
def storage(request, settings):
    name = request.param
    settings.BATCHQUEUE = {**settings.BATCHQUEUE, "STORAGE": name}
    return name


@pytest.mark.parametrize(
    ("storage", "path"),
    RUNS,
    ids=[f"{s}-{p.rsplit('.', 1)[-1]}" for s, p in RUNS],
    indirect=["storage"],
)
def test_core_behaviours_on_every_execution_path(manager, workers, subtests, storage, path):
    ids = _dispatch_all(manager)
    _run(path, workers, ids, storage)

    with subtests.test("map-reduce with Decimal, datetime and UUID values"):
        batch = manager.get_batch(ids["map_reduce"])
        assert (batch.status, batch.completed_jobs) == ("completed", 5), batch.error
        results = list(manager.get_results(batch.pk).values())
        assert [Decimal(r["total"]) for r in results] == [jobs.PRICE * n for n in range(1, 6)]
        assert datetime.fromisoformat(results[0]["at"]) > jobs.WHEN
        assert uuid.UUID(results[2]["ref"]) == uuid.uuid5(jobs.REF, "3")
        assert {r["rate"] for r in results} == {"1.5"}  # the shared context, as stored
        (summed,) = Event.objects.filter(label="sum_decimals")
        assert Decimal(summed.payload["total"]) == jobs.PRICE * 15
        callback = _row(batch.pk, "callback")
        assert (callback.status, Decimal(callback.result)) == ("completed", jobs.PRICE * 15)

    with subtests.test("chain passes a context of real values, through a function step"):
        batch = manager.get_batch(ids["chain"])
        assert batch.status == "completed", batch.error
        assert batch.context["amount"] == "12.34"
        assert datetime.fromisoformat(batch.context["paid_at"]) == jobs.WHEN
        assert uuid.UUID(batch.context["payment_ref"]) == jobs.REF
        assert Decimal(batch.context["double"]) == jobs.PRICE * 2
        assert batch.context["via"] == "parity"  # the function step left the context alone
        (read,) = Event.objects.filter(label="read_values")
        assert read.payload["seen"]["amount"] == "12.34"
        assert Event.objects.filter(label="passthrough").count() == 1
        functions = Event.objects.filter(label="callback:function")  # a function as callback
        assert [(e.payload["status"], e.payload["error"]) for e in functions] == [
            ("completed", None)
        ]

    with subtests.test("saga: failing step, completed steps undone newest first, once"):
        batch = manager.get_batch(ids["saga"])
        assert (batch.status, batch.error) == ("failed", "RuntimeError: card declined")
        assert batch.compensation_status == "completed"
        undone = [
            (r.job_path, r.position, r.status) for r in _rows(batch.pk, "compensation", "ran")
        ]
        assert undone == [
            ("tests.testapp.jobs.undo_function", 1, "completed"),
            ("tests.testapp.jobs.Undo", 0, "completed"),
        ]
        assert Event.objects.filter(label="undo_function").count() == 1
        assert Event.objects.filter(label="undo").count() == 1
        steps = {r.position: r.status for r in _rows(batch.pk, "job")}
        assert steps == {0: "completed", 1: "completed", 2: "failed", 3: "cancelled"}
        assert [c["error"] for c in _callbacks("saga")] == ["RuntimeError: card declined"]

    with subtests.test("each callback runs once, in order, on_finally last"):
        batch = manager.get_batch(ids["callbacks"])
        assert (batch.status, batch.completed_jobs, batch.failed_jobs) == ("completed", 1, 1)
        assert [c["extra"].get("failed_job_position") for c in _callbacks("job_failure")] == [1]
        assert [c["error"] for c in _callbacks("complete")] == [None]
        assert [c["error"] for c in _callbacks("failure")] == ["1 of 2 jobs failed"]
        assert [(c["status"], c["error"]) for c in _callbacks("finally")] == [("completed", None)]
        order = [
            e.label
            for e in Event.objects.filter(label__startswith="callback:").exclude(
                label__in=["callback:saga", "callback:function"]
            )
        ]
        assert order == [
            "callback:job_failure",
            "callback:complete",
            "callback:complete-2",
            "callback:failure",
            "callback:finally",
        ]

    with subtests.test("a failing job is retried until it succeeds"):
        row = _row(ids["retry"], "job")
        assert (row.status, row.attempts, row.result) == ("completed", 3, {"attempts": 3})
        assert row.error == "ValueError: flaky attempt 2"  # the last failed attempt's error

    with subtests.test("a job past its timeout is stopped and failed"):
        row = _row(ids["timeout"], "job")
        assert (row.status, row.error) == ("failed", "JobTimeout: job exceeded its timeout of 2s")
        assert not Event.objects.filter(label="never_ends:end").exists()
        assert (row.finished_at - row.started_at).total_seconds() < 10

    with subtests.test("a result that is not JSON fails the job, saying so"):
        row = _row(ids["non_json"], "job")
        assert row.status == "failed"
        assert row.error == (
            "SerializationError: result['when'] is not JSON-serializable: object of type object"
        )
        assert row.attempts == 1

    if storage == "redis":
        with subtests.test("Redis storage writes nothing to the Batch and BatchJob tables"):
            assert (Batch.objects.count(), BatchJob.objects.count()) == (0, 0)
