"""Saga compensation (contract §4, issue "sagas")."""

import pytest

from django_batchqueue.testing import drain
from tests.reads import batch as read_batch
from tests.reads import job, jobs
from tests.testapp.jobs import Boom, Maybe, Square, Undo, UndoBoom, UndoFlaky
from tests.testapp.models import Event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("each_storage")]


def saga(fail_at, compensation_for=lambda name: Undo):
    return [
        {
            "class": Maybe,
            "args": {"name": name, "fail": i == fail_at},
            "compensation": compensation_for(name),
        }
        for i, name in enumerate("abc")
    ]


@pytest.mark.parametrize(
    ("fail_at", "undone"),
    [(0, []), (1, ["a"]), (2, ["b", "a"])],
    ids=["fails-at-first", "fails-at-second", "fails-at-third"],
)
def test_three_step_saga_compensates_completed_steps_in_reverse(manager, fail_at, undone):
    batch_id = manager.chain(saga(fail_at)).set_context({"order": 7}).dispatch()
    drain()
    batch = read_batch(batch_id)
    assert batch.status == "failed"
    assert batch.error == f"RuntimeError: step {'abc'[fail_at]} failed"
    events = list(Event.objects.filter(label="undo"))
    assert [e.payload["args"]["name"] for e in events] == undone
    assert batch.compensation_status == ("completed" if undone else None)
    # Later steps were cancelled and never ran.
    statuses = [r.status for r in jobs(batch_id)]
    assert statuses == ["completed"] * fail_at + ["failed"] + ["cancelled"] * (2 - fail_at)
    assert Event.objects.filter(label="maybe").count() == fail_at + 1
    for event in events:
        p = event.payload
        original = job(batch_id, position=p["original_position"])
        assert p["original_class"] == "tests.testapp.jobs.Maybe"
        assert p["error"] == batch.error
        assert p["original_result"] == original.result
        # self.context is the context at failure time: it holds every completed step.
        assert p["context"] == {"order": 7, "steps": list("abc"[:fail_at])}
    # Compensation rows are recorded, and not counted in progress.
    comps = jobs(batch_id, "compensation")
    assert len(comps) == len(undone)
    assert {c.status for c in comps} <= {"completed"}
    assert batch.total_jobs == 3 and manager.get_progress(batch_id)["progress_percentage"] == 100


def test_compensation_metadata_is_complete(manager):
    batch_id = manager.chain(saga(1)).dispatch()
    drain()
    comp = job(batch_id, "compensation")
    original = job(batch_id, position=0)
    assert comp.compensates_id == original.pk
    assert comp.args == original.args
    assert set(comp.meta) == {
        "batch_id",
        "original_job_id",
        "original_job_class",
        "original_position",
        "original_result",
        "error",
        "context",
    }
    assert comp.meta["original_job_id"] == str(original.pk)


def test_a_failing_compensation_does_not_stop_the_others(manager):
    batch_id = manager.chain(
        saga(2, compensation_for=lambda name: UndoBoom if name == "b" else Undo)
    ).dispatch()
    drain()
    batch = read_batch(batch_id)
    assert [e.label for e in Event.objects.filter(label__startswith="undo")] == [
        "undo_boom",
        "undo",
    ]
    assert batch.compensation_status == "failed"
    failed = job(batch_id, "compensation", status="failed")
    assert failed.position == 1 and "compensation failed" in failed.error


def test_compensations_are_retried_like_jobs(manager):
    batch_id = manager.chain(saga(1, compensation_for=lambda name: UndoFlaky)).dispatch()
    drain()
    comp = job(batch_id, "compensation")
    assert (comp.status, comp.attempts) == ("completed", 2)
    assert "compensation hiccup" in comp.error  # the failed attempt's error is kept
    assert read_batch(batch_id).compensation_status == "completed"


def test_parallel_failure_compensates_completed_jobs_and_the_failed_one(manager):
    batch_id = manager.batch(
        [
            {"class": Square, "args": {"n": 2}, "compensation": Undo},  # completes, then undone
            {"class": Square, "args": {"n": 1}},  # completes, nothing to undo
            {"class": Boom, "compensation": Undo},  # fails: its own compensation runs
            {"class": Square, "args": {"n": 3}, "compensation": Undo},  # never starts
        ]
    ).dispatch()
    drain()
    batch = read_batch(batch_id)
    assert batch.status == "failed"
    undone = sorted(e.payload["original_position"] for e in Event.objects.filter(label="undo"))
    assert undone == [0, 2]
    assert batch.compensation_status == "completed"
    assert job(batch_id, position=3).status == "cancelled"


def test_allow_failures_runs_the_failed_jobs_compensation(manager):
    batch_id = (
        manager.batch(
            [
                {"class": Square, "args": {"n": 2}, "compensation": Undo},
                {"class": Boom, "compensation": Undo},
            ]
        )
        .allow_failures()
        .dispatch()
    )
    drain()
    batch = read_batch(batch_id)
    assert batch.status == "completed"
    assert [e.payload["original_position"] for e in Event.objects.filter(label="undo")] == [1]
    assert batch.compensation_status == "completed"
