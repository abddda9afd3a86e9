"""Cancel and retry_failed (contract §4 "Cancel and retry")."""

import pytest

from django_batchqueue.exceptions import InvalidBatchState
from django_batchqueue.testing import drain
from tests.reads import batch as read_batch
from tests.reads import job, jobs
from tests.testapp.jobs import Boom, Gated, Maybe, Square, Step, Undo
from tests.testapp.models import Event, record

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("each_storage")]


def test_cancel_without_compensation(manager):
    batch_id = manager.batch([{"class": Square, "args": {"n": n}} for n in range(4)]).dispatch()
    drain(max_jobs=1)
    assert manager.cancel(batch_id) is True
    assert drain() == 3  # the RQ jobs still ran, and were skipped
    batch = read_batch(batch_id)
    assert (batch.status, batch.completed_jobs, batch.cancelled_jobs) == ("cancelled", 1, 3)
    assert Event.objects.filter(label="square").count() == 1
    assert batch.compensation_status is None and batch.finished_at is not None
    assert manager.get_progress(batch_id)["progress_percentage"] == 100


def test_cancel_stops_a_chain_and_returns_false_once_finished(manager):
    batch_id = manager.chain([{"class": Step, "args": {"name": n}} for n in "abc"]).dispatch()
    drain(max_jobs=1)
    assert manager.cancel(batch_id) is True
    assert manager.cancel(batch_id) is False
    assert drain() == 1  # step b's RQ job was already queued: it is skipped, c never enqueued
    assert read_batch(batch_id).context["steps"] == ["a"]
    assert [r.status for r in jobs(batch_id)] == ["completed", "cancelled", "cancelled"]
    done = manager.batch([{"class": Square, "args": {"n": 1}}]).dispatch()
    drain()
    assert manager.cancel(done) is False
    assert read_batch(done).status == "completed"


def test_cancel_with_compensation_undoes_completed_jobs_newest_first(manager):
    batch_id = manager.chain(
        [{"class": Maybe, "args": {"name": n}, "compensation": Undo} for n in "abcd"]
    ).dispatch()
    drain(max_jobs=3)
    assert manager.cancel(batch_id, compensate=True) is True
    drain()
    batch = read_batch(batch_id)
    assert [e.payload["args"]["name"] for e in Event.objects.filter(label="undo")] == [
        "c",
        "b",
        "a",
    ]
    assert (batch.status, batch.compensation_status) == ("cancelled", "completed")
    assert job(batch_id, position=3).status == "cancelled"
    assert Event.objects.filter(label="undo")[0].payload["error"] == "batch cancelled"


def test_retry_failed_resumes_a_chain_at_the_failed_step(manager):
    batch_id = manager.chain(
        [
            {"class": Step, "args": {"name": "a"}},
            {"class": Gated, "args": {"name": "b"}},
            {"class": Step, "args": {"name": "c"}},
        ]
    ).dispatch()
    drain()
    batch = read_batch(batch_id)
    assert (batch.status, batch.failed_jobs, batch.cancelled_jobs) == ("failed", 1, 1)
    record("gate-open")
    assert manager.retry_failed(batch_id) == 2
    batch = read_batch(batch.pk)
    assert (batch.status, batch.failed_jobs, batch.cancelled_jobs) == ("running", 0, 0)
    assert batch.finished_at is None
    drain()
    batch = read_batch(batch.pk)
    assert batch.status == "completed" and batch.completed_jobs == 3
    assert batch.context["steps"] == ["a", "b", "c"]
    # step a ran once; b ran twice (failed, then resumed); c once.
    assert [e.payload["name"] for e in Event.objects.filter(label__in=["step", "gated"])] == [
        "a",
        "b",
        "b",
        "c",
    ]


def test_retry_failed_in_a_strict_parallel_batch_requeues_failed_and_cancelled(manager):
    batch_id = manager.batch(
        [
            {"class": Gated, "args": {"name": "x"}},
            {"class": Square, "args": {"n": 2}},
            {"class": Square, "args": {"n": 3}},
        ]
    ).dispatch()
    drain()
    assert read_batch(batch_id).cancelled_jobs == 2
    record("gate-open")
    assert manager.retry_failed(batch_id) == 3
    drain()
    batch = read_batch(batch_id)
    assert (batch.status, batch.completed_jobs) == ("completed", 3)


def test_retry_failed_refuses_other_states(manager):
    running = manager.batch([Square]).dispatch()
    with pytest.raises(InvalidBatchState, match="pending"):
        manager.retry_failed(running)
    compensated = manager.chain(
        [{"class": Maybe, "args": {"name": "a"}, "compensation": Undo}, Boom]
    ).dispatch()
    drain()
    assert read_batch(compensated).compensation_status == "completed"
    with pytest.raises(InvalidBatchState, match="compensation"):
        manager.retry_failed(compensated)
    assert read_batch(compensated).status == "failed"


def test_a_chain_step_cancelling_its_own_batch_is_undone_first(manager):
    """Cancel with compensation while the cancelling step runs: it completes, then c, b, a."""
    from tests.testapp.jobs import CancelOwnBatch

    batch_id = manager.chain(
        [
            {"class": Maybe, "args": {"name": "a"}, "compensation": Undo},
            {"class": Maybe, "args": {"name": "b"}, "compensation": Undo},
            {"class": CancelOwnBatch, "args": {"name": "c"}, "compensation": Undo},
            {"class": Maybe, "args": {"name": "d"}, "compensation": Undo},
        ]
    ).dispatch()
    drain()
    batch = read_batch(batch_id)
    assert (batch.status, batch.compensation_status) == ("cancelled", "completed")
    undone = list(Event.objects.filter(label="undo"))
    assert [e.payload["original_position"] for e in undone] == [2, 1, 0]
    assert {e.payload["error"] for e in undone} == {"batch cancelled"}
    assert job(batch_id, position=2).status == "completed"
    assert job(batch_id, position=3).status == "cancelled"
    assert not Event.objects.filter(label="maybe", payload__name="d").exists()


def test_retry_failed_reruns_the_failed_jobs_of_a_completed_tolerant_batch(manager):
    """Laravel's queue:retry-batch on a batch that allowed failures; callbacks run once more."""
    from tests.testapp.jobs import RecordCallback

    batch_id = (
        manager.batch(
            [
                {"class": Square, "args": {"n": 2}},
                {"class": Gated, "args": {"name": "x"}},
                {"class": Gated, "args": {"name": "y"}},
            ]
        )
        .allow_failures()
        .on_complete({"class": RecordCallback, "args": {"tag": "complete"}})
        .on_failure({"class": RecordCallback, "args": {"tag": "failure"}})
        .dispatch()
    )
    drain()
    batch = read_batch(batch_id)
    assert (batch.status, batch.completed_jobs, batch.failed_jobs) == ("completed", 1, 2)
    record("gate-open")
    assert manager.retry_failed(batch_id) == 2
    batch = read_batch(batch.pk)
    assert (batch.status, batch.failed_jobs, batch.finished_at) == ("running", 0, None)
    drain()
    batch = read_batch(batch.pk)
    assert (batch.status, batch.completed_jobs, batch.failed_jobs) == ("completed", 3, 0)
    complete = Event.objects.filter(label="callback:complete")
    assert [e.payload["error"] for e in complete] == [None, None]  # once per outcome
    failure = Event.objects.filter(label="callback:failure")
    assert [e.payload["error"] for e in failure] == ["2 of 3 jobs failed"]  # first outcome only
    # Square ran once: only the failed jobs were re-run.
    assert Event.objects.filter(label="square").count() == 1
    with pytest.raises(InvalidBatchState, match="completed with no failed jobs"):
        manager.retry_failed(batch_id)
