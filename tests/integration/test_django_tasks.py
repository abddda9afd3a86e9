"""Django's Tasks framework (contract §12): @task functions as batch members, and
BatchQueueBackend as a TASKS backend. Django 6's ``django.tasks``, or the backport on 5.2."""

from __future__ import annotations

from decimal import Decimal

import pytest

from django_batchqueue import batch, chain
from django_batchqueue.djtasks import AVAILABLE
from django_batchqueue.testing import drain
from tests import reads
from tests.conftest import wait_for
from tests.testapp.jobs import Step
from tests.testapp.models import Event

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not AVAILABLE, reason="no Django tasks framework installed"),
]

if AVAILABLE:
    from django_batchqueue.djtasks import (
        TaskResultDoesNotExist,
        TaskResultStatus,
        task_enqueued,
    )
    from tests.testapp import tasks


def labels(prefix):
    return [e for e in Event.objects.filter(label__startswith=prefix)]


def test_tasks_are_batch_members_chain_steps_callbacks_and_compensations(manager):
    parallel = (
        batch([{"class": tasks.add, "args": {"a": n, "b": 10}} for n in range(3)])
        .on_complete(tasks.callback_task)
        .dispatch()
    )
    chained = (
        chain(
            [
                {"class": Step, "args": {"name": "a"}, "compensation": tasks.undo_task},
                {"class": tasks.total, "args": {"amounts": ["1.10", "2.20"]}},
                {"class": tasks.fails, "args": {"message": "stop here"}},
            ]
        )
        .set_context({"order": 1})
        .dispatch()
    )
    drain()
    assert list(manager.get_results(parallel).values()) == [10, 11, 12]
    (callback,) = labels("task:callback")  # a task as a callback
    assert callback.payload == {"batch_id": parallel, "status": "completed"}
    chain_batch = reads.batch(chained)
    assert (chain_batch.status, chain_batch.error) == ("failed", "LookupError: stop here")
    results = list(manager.get_results(chained).values())
    assert Decimal(results[1]) == Decimal("3.30")  # a Decimal, stored as Django's encoder does
    assert chain_batch.context["steps"] == ["a"]  # the context passed through the task step
    (undo,) = labels("task:undo")
    assert undo.payload["args"] == {"name": "a"}  # a task as a compensation
    assert chain_batch.compensation_status == "completed"


def test_enqueue_runs_a_one_job_batch_and_results_read_back():
    received = []

    def on_enqueued(sender, task_result, **kwargs):
        received.append(task_result.id)

    task_enqueued.connect(on_enqueued)
    try:
        result = tasks.add.enqueue(2, b=3)  # positional args are bound to the function's names
    finally:
        task_enqueued.disconnect(on_enqueued)
    assert received == [result.id]
    assert result.status == TaskResultStatus.READY and not result.is_finished
    assert result.kwargs == {"a": 2, "b": 3}
    batch_row = reads.batch(result.id)  # it is a batch: the admin and API show it
    assert (batch_row.name, batch_row.total_jobs) == ("task add", 1)
    drain()
    result.refresh()
    assert (result.status, result.return_value, result.attempts) == (
        TaskResultStatus.SUCCESSFUL,
        5,
        1,
    )
    assert result.finished_at is not None and result.started_at <= result.finished_at
    again = tasks.add.get_result(result.id)
    assert (again.status, again.return_value) == (TaskResultStatus.SUCCESSFUL, 5)
    statuses = [(e.label, e.payload["status"]) for e in labels("signal:")]
    assert statuses == [
        ("signal:task_started", "RUNNING"),
        ("signal:task_finished", "SUCCESSFUL"),
    ]


def test_a_failing_task_reports_its_exception_and_a_context_task_its_attempt():
    failed = tasks.fails.enqueue(message="no such row")
    with_context = tasks.with_context.enqueue(label="ctx")
    drain()
    failed.refresh()
    assert failed.status == TaskResultStatus.FAILED
    (error,) = failed.errors
    assert error.exception_class_path == "builtins.LookupError"
    assert error.exception_class is LookupError
    assert "no such row" in error.traceback
    with pytest.raises(ValueError):
        failed.return_value  # noqa: B018 - Django raises for a failed task
    with_context.refresh()
    assert with_context.return_value == {"label": "ctx", "attempt": 1}
    (seen,) = labels("task:context")
    assert seen.payload["id"] == with_context.id


def test_queue_names_map_onto_named_queues_and_unknown_ids_are_refused():
    result = tasks.on_named_queue.enqueue()
    assert reads.batch(result.id).queue == "email-chain"
    with pytest.raises(TaskResultDoesNotExist):
        tasks.add.get_result("00000000-0000-0000-0000-000000000000")
    with pytest.raises(TaskResultDoesNotExist):
        tasks.add.get_result("not-an-id")


def test_the_backend_says_what_it_supports_and_checks_its_queues(settings):
    from django_batchqueue.tasks import BatchQueueBackend

    backend = BatchQueueBackend("probe", {"QUEUES": ["default", "nowhere"]})
    assert (backend.supports_get_result, backend.supports_defer, backend.supports_priority) == (
        True,
        False,
        False,
    )
    assert [m.id for m in backend.check()] == ["django_batchqueue.W030"]


@pytest.mark.worker
def test_a_task_enqueued_runs_on_the_recommended_worker(workers):
    result = tasks.total.enqueue(amounts=["0.10", "0.20"])
    workers.start(1, worker_class="django_batchqueue.worker.BatchWorker")
    wait_for(
        lambda: Event.objects.filter(label="signal:task_finished").exists(),
        message="the task to finish",
    )
    result.refresh()
    assert (result.status, Decimal(result.return_value)) == (
        TaskResultStatus.SUCCESSFUL,
        Decimal("0.30"),
    )
    assert result.worker_ids and result.worker_ids[0]  # the RQ worker's name
