"""Dynamic addition: jobs add jobs to their own batch (contract §4 "Dynamic addition")."""

import pytest

from django_batchqueue.exceptions import BatchClosed, BatchNotFound, BatchQueueError
from django_batchqueue.testing import drain
from tests.reads import batch as read_batch
from tests.reads import jobs as rows_of
from tests.testapp.jobs import AddMore, Boom, Square
from tests.testapp.models import Event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("each_storage")]


def step(name):
    # Dotted paths: these definitions travel inside another job's (JSON) args.
    return {"class": "tests.testapp.jobs.Step", "args": {"name": name}}


def test_chain_steps_added_by_a_step_run_after_every_original_step_in_order(manager):
    batch_id = manager.chain(
        [
            {"class": AddMore, "args": {"name": "screen", "add": [step("x"), step("y")]}},
            step("b"),
            step("c"),
        ]
    ).dispatch()
    assert drain() == 5
    batch = read_batch(batch_id)
    assert batch.status == "completed" and batch.total_jobs == 5
    assert batch.context["steps"] == ["screen", "b", "c", "x", "y"]
    # Added steps saw the context current when they started.
    seen = {e.payload["name"]: e.payload["seen"] for e in Event.objects.filter(label="step")}
    assert seen["x"] == ["screen", "b", "c"] and seen["y"] == ["screen", "b", "c", "x"]
    positions = {r.position: r.job_path for r in rows_of(batch_id)}
    assert sorted(positions) == [0, 1, 2, 3, 4]


def test_nested_additions(manager):
    inner = {
        "class": "tests.testapp.jobs.AddMore",
        "args": {"name": "inner", "add": [step("leaf")]},
    }
    batch_id = manager.chain(
        [{"class": AddMore, "args": {"name": "outer", "add": [inner]}}]
    ).dispatch()
    drain()
    batch = read_batch(batch_id)
    assert (batch.status, batch.total_jobs) == ("completed", 3)
    assert batch.context["steps"] == ["outer", "inner", "leaf"]


def test_parallel_additions_are_enqueued_at_once_and_the_batch_waits_for_them(manager):
    batch_id = (
        manager.batch(
            [
                {
                    "class": AddMore,
                    "args": {
                        "add": [
                            {"class": "tests.testapp.jobs.Square", "args": {"n": n}} for n in (5, 6)
                        ]
                    },
                },
                {"class": Square, "args": {"n": 1}},
            ]
        )
        .on_complete("tests.testapp.jobs.RecordCallback")
        .dispatch()
    )
    drain(max_jobs=1)  # the adder ran: total grew, the new jobs are on the queue
    batch = read_batch(batch_id)
    assert (batch.total_jobs, batch.status) == (4, "running")
    assert {r.status for r in rows_of(batch_id, position__gte=2)} == {"queued"}
    drain()
    batch = read_batch(batch_id)
    assert (batch.status, batch.completed_jobs) == ("completed", 4)
    assert Event.objects.filter(label="callback:cb").count() == 1  # once, after the added jobs
    assert [v for v in manager.get_results(batch_id).values() if isinstance(v, int)] == [1, 25, 36]


def test_manager_add_jobs_from_outside_a_job(manager):
    batch_id = manager.chain([step("a")]).dispatch()
    ids = manager.add_jobs(batch_id, [step("b"), None, False, step("c")])
    assert len(ids) == 2
    assert read_batch(batch_id).total_jobs == 3
    drain()
    assert read_batch(batch_id).context["steps"] == ["a", "b", "c"]
    assert [r.position for r in rows_of(batch_id) if str(r.id) in ids] == [1, 2]


@pytest.mark.parametrize("empty", [[], [None], [None, False]])
def test_empty_additions_change_nothing(manager, empty):
    batch_id = manager.batch([Square]).dispatch()
    assert manager.add_jobs(batch_id, empty) == []
    assert read_batch(batch_id).total_jobs == 1


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
def test_adding_to_a_finished_batch_raises_naming_its_status(manager, status):
    jobs = [{"class": Square, "args": {"n": 1}}] if status != "failed" else [Boom]
    batch_id = manager.batch(jobs).dispatch()
    if status == "cancelled":
        manager.cancel(batch_id)
    drain()
    assert read_batch(batch_id).status == status
    with pytest.raises(BatchClosed, match=status) as info:
        manager.add_jobs(batch_id, [Square])
    assert isinstance(info.value, BatchQueueError)
    assert read_batch(batch_id).total_jobs == 1
    assert len(rows_of(batch_id)) == 1


def test_adding_to_an_unknown_batch(manager):
    import uuid

    with pytest.raises(BatchNotFound) as info:
        manager.add_jobs(uuid.uuid4(), [Square])
    assert isinstance(info.value, LookupError) and isinstance(info.value, BatchQueueError)


def test_bad_definitions_in_an_addition_are_refused_before_anything_changes(manager):
    batch_id = manager.batch([Square]).dispatch()
    with pytest.raises(BatchQueueError, match=r"jobs\[1\]"):
        manager.add_jobs(batch_id, [Square, {"args": {}}])
    assert read_batch(batch_id).total_jobs == 1


def test_a_job_that_adds_then_fails_leaves_nothing_orphaned(manager):
    batch_id = manager.chain(["tests.testapp.jobs.AddThenFail"]).dispatch()
    drain()
    batch = read_batch(batch_id)
    assert batch.status == "failed"
    assert (batch.total_jobs, batch.failed_jobs, batch.cancelled_jobs) == (2, 1, 1)
    assert not rows_of(batch_id, None, status__in=["pending", "queued", "running"])
