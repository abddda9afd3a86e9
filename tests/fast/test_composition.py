"""Composition (contract §9): batches inside chains, chains inside batches, on the fast tier."""

from __future__ import annotations

import pytest

from django_batchqueue import BatchManager, batch, chain
from django_batchqueue.exceptions import InvalidDefinition, JobImportError
from django_batchqueue.storage import get_storage
from django_batchqueue.testing import in_memory
from tests.testapp import memory_jobs as jobs

pytestmark = pytest.mark.fast


@pytest.fixture
def queue():
    jobs.LOG.clear()
    jobs.Gate.OPEN = False
    with in_memory() as q:
        yield q


@pytest.fixture
def m():
    return BatchManager()


def logged(label):
    return [d for name, d in jobs.LOG if name == label]


def cb(tag):
    return {"class": jobs.Callback, "args": {"tag": tag}}


def test_fan_out_and_fan_in_with_previous_result(queue, m):
    root = (
        chain(
            [
                {"class": jobs.Prepare, "args": {"rows": 4}},
                batch([{"class": jobs.ImportRow, "args": {"row": i}} for i in range(1, 5)])
                .allow_failures()
                .set_context({"child": "own"}),
                jobs.Finalize,
            ]
        )
        .set_context({"upload": 9})
        .on_complete(cb("done"))
        .dispatch()
    )
    queue.run()
    parent = m.get_batch(root)
    assert (parent.status, parent.total_jobs, parent.completed_jobs) == ("completed", 3, 3)
    (child,) = m.get_children(root)
    assert (child.status, child.parent_id, child.root_id) == ("completed", parent.id, parent.id)
    assert (child.completed_jobs, child.failed_jobs) == (3, 1)  # row 3 failed, tolerated
    # The child took a copy of the parent's context as it was when it started, plus its own.
    assert {r["context"]["prepared"] for r in logged("row")} == {4}
    assert {r["context"]["child"] for r in logged("row")} == {"own"}
    # Its first... every member of a nested parallel batch sees no previous result.
    assert {r["previous"] for r in logged("row")} == {None}
    # The fan-in step sees the child's result: its jobs' results in position order.
    (final,) = logged("finalize")
    assert final["previous"] == [{"row": 1}, {"row": 2}, None, {"row": 4}]
    assert "child" not in parent.context  # a child batch's context does not flow back
    results = list(m.get_results(root).values())
    assert results == [{"rows": 4}, [{"row": 1}, {"row": 2}, None, {"row": 4}], {"imported": 3}]
    assert [d["status"] for d in logged("callback:done")] == ["completed"]


def test_chains_side_by_side_in_a_batch_keep_their_own_context(queue, m):
    root = (
        batch(
            [
                chain(
                    [{"class": jobs.Ctx, "args": {"name": f"{o}-{s}"}} for s in "ab"]
                ).set_context({"order": o})
                for o in (1, 2)
            ]
            + [{"class": jobs.Square, "args": {"n": 3}}]
        )
        .on_complete(cb("all"))
        .dispatch()
    )
    queue.run()
    assert m.get_batch(root).status == "completed"
    seen = {
        (d["name"], d["context"]["order"], tuple(d["context"].get("seen", [])))
        for d in logged("ctx")
    }
    assert seen == {("1-a", 1, ()), ("1-b", 1, ("1-a",)), ("2-a", 2, ()), ("2-b", 2, ("2-a",))}
    # A child chain's previous_result: its own steps, not across chains.
    assert {d["name"]: d["previous"] for d in logged("ctx")} == {
        "1-a": None,
        "1-b": "1-a",
        "2-a": None,
        "2-b": "2-a",
    }
    assert list(m.get_results(root).values()) == ["1-b", "2-b", 9]  # a chain: its last result
    assert m.get_batch(root).context == {}  # nothing flows back into a parallel parent


def test_a_chain_nested_as_a_chain_step_runs_inline(queue, m):
    root = chain(
        [
            {"class": jobs.Ctx, "args": {"name": "a"}},
            chain(
                [
                    {"class": jobs.Ctx, "args": {"name": "b"}},
                    {"class": jobs.Ctx, "args": {"name": "c"}},
                ]
            ),
            {"class": jobs.Ctx, "args": {"name": "d"}},
        ]
    ).dispatch()
    queue.run()
    assert [(d["name"], d["previous"]) for d in logged("ctx")] == [
        ("a", None),
        ("b", "a"),  # the first step of a nested chain sees the parent's step before it
        ("c", "b"),
        ("d", "c"),  # and the step after the nested chain sees its last result
    ]
    assert m.get_batch(root).context["seen"] == ["a", "b", "c", "d"]  # its context flows back


def test_five_levels_deep_and_leaf_progress(queue, m):
    tree = batch([{"class": jobs.Square, "args": {"n": 1}}])
    for depth in range(5):
        tree = (chain if depth % 2 else batch)([tree, {"class": jobs.Square, "args": {"n": depth}}])
    root = tree.dispatch()
    progress = m.get_progress(root)
    assert (progress["total_jobs"], progress["leaf"]["total_jobs"]) == (2, 6)
    queue.run(max_jobs=3)
    progress = m.get_progress(root)
    assert progress["leaf"]["completed_jobs"] == 3 and progress["completed_jobs"] < 2
    assert progress["progress_percentage"] == 50  # from the leaves
    queue.run()
    progress = m.get_progress(root)
    assert (progress["status"], progress["leaf"]["completed_jobs"]) == ("completed", 6)
    depths, node = 0, m.get_batch(root)
    while node.has_children:
        node = m.get_children(node.id)[0]
        depths += 1
    assert depths == 5 and node.root_id == m.get_batch(root).id


def test_a_failing_child_stops_the_chain_and_everything_is_undone_newest_first(queue, m):
    root = (
        chain(
            [
                {"class": jobs.Step, "args": {"name": "a"}, "compensation": jobs.Undo},
                batch(
                    [
                        {"class": jobs.Step, "args": {"name": "b1"}, "compensation": jobs.Undo},
                        {"class": jobs.Step, "args": {"name": "b2"}, "compensation": jobs.Undo},
                    ]
                ).on_complete(cb("child-complete")),
                {
                    "class": jobs.Step,
                    "args": {"name": "c", "fail": True},
                    "compensation": jobs.Undo,
                },
                {"class": jobs.Step, "args": {"name": "d"}},
            ]
        )
        .on_failure(cb("parent-failure"))
        .on_finally(cb("parent-finally"))
        .dispatch()
    )
    queue.run()
    parent = m.get_batch(root)
    assert (parent.status, parent.compensation_status) == ("failed", "completed")
    # c failed (not undone); the nested batch undone as a unit, its jobs newest first; then a.
    undone = [(d["position"], d["context"].get("steps")) for d in logged("undo")]
    assert [p for p, _ in undone] == [1, 0, 0]
    (child,) = m.get_children(root)
    assert child.compensation_status == "completed"
    assert [name for name, _ in jobs.LOG if name.startswith("callback:")] == [
        "callback:child-complete",
        "callback:parent-failure",
        "callback:parent-finally",
    ]


def test_a_failed_child_fails_a_strict_parent_and_its_open_siblings_are_cancelled(queue, m):
    root = batch(
        [chain([jobs.Boom]), chain([{"class": jobs.Gate, "args": {"name": "never"}}] * 2)]
    ).dispatch()
    queue.run()
    parent = m.get_batch(root)
    failing, sibling = m.get_children(root)
    assert (parent.status, parent.error) == ("failed", "RuntimeError: boom")
    assert (failing.status, sibling.status) == ("failed", "cancelled")
    assert logged("gate") == []  # the sibling's queued step was cancelled before it ran
    assert (parent.failed_jobs, parent.cancelled_jobs) == (1, 1)


def test_a_childs_callbacks_run_before_its_parents(queue, m):
    batch(
        [chain([jobs.Boom]).on_failure(cb("child-failure")).on_finally(cb("child-finally"))]
    ).on_job_failure(cb("parent-job-failure")).on_failure(cb("parent-failure")).on_finally(
        cb("parent-finally")
    ).dispatch()
    queue.run()
    assert [name for name, _ in jobs.LOG if name.startswith("callback:")] == [
        "callback:child-failure",  # the child's own callbacks run before the parent's
        "callback:child-finally",
        "callback:parent-job-failure",
        "callback:parent-failure",
        "callback:parent-finally",
    ]


def test_a_tolerant_parent_counts_a_failed_child_as_one_failed_member(queue, m):
    root = (
        batch([chain([jobs.Boom]), {"class": jobs.Square, "args": {"n": 2}}])
        .allow_failures()
        .dispatch()
    )
    queue.run()
    parent = m.get_batch(root)
    assert (parent.status, parent.completed_jobs, parent.failed_jobs) == ("completed", 1, 1)


def test_cancelling_a_child_fails_its_member(queue, m):
    root = chain([batch([{"class": jobs.Gate, "args": {"name": "x"}}]), jobs.Square]).dispatch()
    (child,) = m.get_children(root)
    assert m.cancel(child.id) is True
    queue.run()
    parent = m.get_batch(root)
    assert (parent.status, parent.error) == ("failed", f"nested batch {child.id} was cancelled")


def test_cancel_with_compensation_undoes_the_whole_tree_newest_first(queue, m):
    root = (
        chain(
            [
                {"class": jobs.Step, "args": {"name": "a"}, "compensation": jobs.Undo},
                chain(
                    [
                        {"class": jobs.Step, "args": {"name": "b1"}, "compensation": jobs.Undo},
                        {"class": jobs.CancelOwnBatch, "args": {"name": "b2"}},
                    ]
                ),
            ]
        )
        .on_finally(cb("finally"))
        .dispatch()
    )
    queue.run(max_jobs=2)  # a and b1 completed
    assert m.cancel(root, compensate=True) is True
    queue.run()
    assert [d["position"] for d in logged("undo")] == [0, 0]  # b1 (in the child), then a
    (child,) = m.get_children(root)
    assert (m.get_batch(root).status, child.status) == ("cancelled", "cancelled")
    assert [d["status"] for d in logged("callback:finally")] == ["cancelled"]


def test_retry_is_recursive_and_counts_leaf_jobs(queue, m):
    root = chain(
        [
            {"class": jobs.Step, "args": {"name": "a"}},
            batch(
                [
                    {"class": jobs.Gate, "args": {"name": "g1"}},
                    {"class": jobs.Gate, "args": {"name": "g2"}},
                ]
            ),
            {"class": jobs.Step, "args": {"name": "z"}},
        ]
    ).dispatch()
    queue.run()
    assert m.get_batch(root).status == "failed"
    jobs.Gate.OPEN = True
    assert m.retry_failed(root) == 3  # g1 (failed), g2 (cancelled with its batch) and z
    queue.run()
    parent = m.get_batch(root)
    assert (parent.status, parent.completed_jobs) == ("completed", 3)
    assert m.get_children(root)[0].status == "completed"


def test_jobs_add_nested_batches_and_add_to_their_own_innermost_batch(queue, m):
    root = batch(
        [
            chain(
                [
                    {
                        "class": jobs.AddMore,
                        "args": {
                            "add": [{"class": "tests.testapp.memory_jobs.Square", "args": {"n": 5}}]
                        },
                    }
                ]
            )
        ]
    ).dispatch()
    m.add_jobs(root, [chain([{"class": jobs.Ctx, "args": {"name": "late"}}])])
    queue.run()
    parent = m.get_batch(root)
    first, _second = m.get_children(root)
    assert (parent.status, parent.total_jobs) == ("completed", 2)
    assert first.total_jobs == 2  # AddMore added to its own (innermost) batch
    assert [d["name"] for d in logged("ctx")] == ["late"]


def test_a_child_without_a_queue_uses_its_parents(queue, m):
    root = (
        batch([chain([jobs.Square]), chain([jobs.Square]).queue_config("other")])
        .queue("email-processing")
        .dispatch()
    )
    first, second = m.get_children(root)
    assert (m.get_batch(root).queue, first.queue, second.queue) == (
        "email-chain",
        "email-chain",
        "other",
    )


def test_bad_input_at_any_depth_is_named_by_its_path_and_nothing_is_written(queue, m):
    with pytest.raises(
        JobImportError, match=r"^jobs\[1\]\.jobs\[0\]\.jobs\[2\]: 'tests.nowhere.Job'"
    ):
        chain(
            [jobs.Square, batch([chain([jobs.Square, jobs.Square, "tests.nowhere.Job"])])]
        ).dispatch()
    with pytest.raises(
        InvalidDefinition, match=r"jobs\[0\]: a nested batch needs at least one job"
    ):
        batch([batch([None])]).dispatch()
    inner = batch([jobs.Square])
    inner.dispatch()
    with pytest.raises(InvalidDefinition, match=r"jobs\[0\]: this batch was already dispatched"):
        chain([inner]).dispatch()
    assert len(get_storage().batches) == 1  # only the one dispatched on purpose
