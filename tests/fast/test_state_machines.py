"""The fast tier: the engine's state machines on ``MemoryStorage`` with an in-process queue.

No database, Redis or worker process is involved (pytest-django refuses database access in
these tests, and the Redis fixtures skip them), so these run in milliseconds. The same
behaviours are covered with real workers, RQ and both databases in tests/integration and
tests/workers.
"""

from __future__ import annotations

import pytest

from django_batchqueue import BatchManager
from django_batchqueue.exceptions import BatchClosed, BatchNotFound, NothingToRetry
from django_batchqueue.execution import aftermath
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


def rows(batch_id, kind="job"):
    storage = get_storage()
    return sorted(
        (r for r in storage.jobs.values() if str(r.batch_id) == batch_id and r.kind == kind),
        key=lambda r: (r.position, r.created_at),
    )


def logged(label):
    return [details for name, details in jobs.LOG if name == label]


def test_nothing_here_touches_the_database_or_redis(queue, m):
    from django_batchqueue.storage.memory import MemoryStorage

    assert isinstance(get_storage(), MemoryStorage)
    batch_id = m.batch([{"class": jobs.Square, "args": {"n": 3}}]).dispatch()
    assert queue.run() == 1
    assert m.get_progress(batch_id)["status"] == "completed"


def test_parallel_batch_results_counters_and_one_on_complete(queue, m):
    batch_id = (
        m.batch([{"class": jobs.Square, "args": {"n": n}} for n in range(5)])
        .on_complete({"class": jobs.Callback, "args": {"tag": "done"}})
        .dispatch()
    )
    queue.run()
    assert list(m.get_results(batch_id).values()) == [0, 1, 4, 9, 16]
    progress = m.get_progress(batch_id)
    assert (progress["status"], progress["completed_jobs"], progress["progress_percentage"]) == (
        "completed",
        5,
        100,
    )
    assert logged("callback:done") == [{"status": "completed", "error": None, "extra": {}}]


def test_strict_failure_cancels_the_rest_and_runs_on_failure_once(queue, m):
    batch_id = (
        m.batch([jobs.Boom, *[{"class": jobs.Square, "args": {"n": n}} for n in range(3)]])
        .on_complete({"class": jobs.Callback, "args": {"tag": "complete"}})
        .on_failure({"class": jobs.Callback, "args": {"tag": "failure"}})
        .dispatch()
    )
    queue.run(max_jobs=1)  # the failing job runs first
    queue.run()
    batch = m.get_batch(batch_id)
    assert (batch.status, batch.failed_jobs, batch.cancelled_jobs) == ("failed", 1, 3)
    assert logged("square") == []  # cancelled before they started: skipped by the runner
    assert [c["error"] for c in logged("callback:failure")] == ["RuntimeError: boom"]
    assert logged("callback:complete") == []


def test_allow_failures_runs_everything_and_orders_the_callbacks(queue, m):
    m.batch(
        [jobs.Boom, {"class": jobs.Square, "args": {"n": 2}}, jobs.Boom]
    ).allow_failures().on_job_failure({"class": jobs.Callback, "args": {"tag": "job"}}).on_complete(
        {"class": jobs.Callback, "args": {"tag": "complete"}}
    ).on_failure({"class": jobs.Callback, "args": {"tag": "failure"}}).dispatch()
    queue.run()
    order = [name for name in jobs.labels() if name.startswith("callback:")]
    assert order == ["callback:job", "callback:job", "callback:complete", "callback:failure"]
    assert [c["extra"]["failed_job_position"] for c in logged("callback:job")] == [0, 2]
    assert logged("callback:failure")[0]["error"] == "2 of 3 jobs failed"


def test_chain_context_accumulates_through_a_function_step(queue, m):
    batch_id = (
        m.chain(
            [
                {"class": jobs.Step, "args": {"name": "a"}},
                jobs.passthrough,
                {"class": jobs.Step, "args": {"name": "b"}},
            ]
        )
        .set_context({"order": 7})
        .dispatch()
    )
    assert queue.run() == 3
    batch = m.get_batch(batch_id)
    assert batch.status == "completed"
    assert batch.context == {"order": 7, "steps": ["a", "b"], "total": "2.50"}
    assert [s["seen"] for s in logged("step")] == [[], ["a"]]


def test_saga_undoes_completed_steps_newest_first_with_what_they_need(queue, m):
    batch_id = (
        m.chain(
            [
                {
                    "class": jobs.Step,
                    "args": {"name": n, "fail": n == "c"},
                    "compensation": jobs.Undo,
                }
                for n in "abcd"
            ]
        )
        .set_context({"order": 1})
        .dispatch()
    )
    queue.run()
    batch = m.get_batch(batch_id)
    assert (batch.status, batch.compensation_status) == ("failed", "completed")
    undone = logged("undo")
    assert [u["position"] for u in undone] == [1, 0]
    assert {u["error"] for u in undone} == {"RuntimeError: step c failed"}
    assert undone[0]["original_result"] == {"step": "b"}
    assert undone[0]["context"]["steps"] == ["a", "b"]
    assert [r.status for r in rows(batch_id)] == ["completed", "completed", "failed", "cancelled"]


def test_a_failing_compensation_does_not_stop_the_others(queue, m):
    batch_id = m.chain(
        [
            {"class": jobs.Step, "args": {"name": "a"}, "compensation": jobs.Undo},
            {"class": jobs.Step, "args": {"name": "b"}, "compensation": jobs.UndoBoom},
            jobs.Boom,
        ]
    ).dispatch()
    queue.run()
    assert [u["position"] for u in logged("undo_boom")] == [1]
    assert [u["position"] for u in logged("undo")] == [0]
    assert m.get_batch(batch_id).compensation_status == "failed"


def test_retries_count_attempts_and_keep_the_last_error(queue, m):
    batch_id = m.batch([jobs.Flaky]).dispatch()
    assert queue.run() == 3
    (row,) = rows(batch_id)
    assert (row.status, row.attempts, row.result, row.error) == (
        "completed",
        3,
        3,
        "ValueError: attempt 2",
    )


def test_tuning_is_resolved_at_dispatch_and_stored_with_each_row(queue, m):
    batch_id = (
        m.chain([{"class": jobs.Boom, "compensation": jobs.CarefulUndo}, jobs.Boom])
        .retry(1)
        .on_failure(jobs.Callback)
        .dispatch()
    )
    (first, _second) = rows(batch_id)
    assert (first.max_retries, first.compensation_tuning) == (
        1,
        {"max_retries": 4, "retry_delay": 0.0, "timeout": 9},
    )
    batch = m.get_batch(batch_id)
    assert batch.callbacks["on_failure"][0]["max_retries"] == 1  # the callback class's own


def test_cancel_with_compensation_from_inside_a_chain_step(queue, m):
    batch_id = m.chain(
        [
            {"class": jobs.Step, "args": {"name": "a"}, "compensation": jobs.Undo},
            {"class": jobs.Step, "args": {"name": "b"}, "compensation": jobs.Undo},
            {"class": jobs.CancelOwnBatch, "compensation": jobs.Undo},
            {"class": jobs.Step, "args": {"name": "d"}, "compensation": jobs.Undo},
        ]
    ).dispatch()
    queue.run()
    batch = m.get_batch(batch_id)
    assert (batch.status, batch.compensation_status) == ("cancelled", "completed")
    assert [u["position"] for u in logged("undo")] == [2, 1, 0]
    assert {u["error"] for u in logged("undo")} == {"batch cancelled"}
    assert [s["name"] for s in logged("step")] == ["a", "b", "canceller"]


def test_retry_failed_resumes_a_chain_and_reruns_a_tolerant_batch(queue, m):
    chain_id = m.chain(
        [{"class": jobs.Step, "args": {"name": "a"}}, {"class": jobs.Gate, "args": {"name": "g"}}]
    ).dispatch()
    tolerant_id = (
        m.batch(
            [{"class": jobs.Gate, "args": {"name": "t"}}, {"class": jobs.Square, "args": {"n": 1}}]
        )
        .allow_failures()
        .on_complete({"class": jobs.Callback, "args": {"tag": "complete"}})
        .dispatch()
    )
    queue.run()
    assert m.get_batch(chain_id).status == "failed"
    assert m.get_batch(tolerant_id).status == "completed"
    jobs.Gate.OPEN = True
    assert m.retry_failed(chain_id) == 1 and m.retry_failed(tolerant_id) == 1
    queue.run()
    assert m.get_batch(chain_id).context["steps"] == ["a", "g"]
    assert (m.get_batch(tolerant_id).status, m.get_batch(tolerant_id).failed_jobs) == (
        "completed",
        0,
    )
    assert len(logged("callback:complete")) == 2  # once per outcome
    with pytest.raises(NothingToRetry):
        m.retry_failed(tolerant_id)


def test_jobs_added_while_running_and_refused_after(queue, m):
    parallel = m.batch(
        [
            {
                "class": jobs.AddMore,
                "args": {"add": [{"class": "tests.testapp.memory_jobs.Square", "args": {"n": 4}}]},
            }
        ]
    ).dispatch()
    chain = m.chain([{"class": jobs.Step, "args": {"name": "a"}}]).dispatch()
    m.add_jobs(chain, [{"class": jobs.Step, "args": {"name": "b"}}])
    queue.run()
    assert m.get_batch(parallel).total_jobs == 2 and m.get_batch(parallel).status == "completed"
    assert m.get_batch(chain).context["steps"] == ["a", "b"]
    with pytest.raises(BatchClosed, match="completed"):
        m.add_jobs(chain, [jobs.Square])
    with pytest.raises(BatchNotFound):
        m.add_jobs("00000000-0000-0000-0000-000000000000", [jobs.Square])


def test_a_duplicate_message_for_a_row_runs_nothing(queue, m):
    batch_id = m.batch([{"class": jobs.Square, "args": {"n": 2}}]).dispatch()
    queue.items.append(queue.items[0])  # the same RQ job delivered twice
    assert queue.run() == 2
    assert len(logged("square")) == 1
    assert m.get_batch(batch_id).completed_jobs == 1


def test_nudge_moves_on_a_chain_whose_next_step_was_lost(queue, m):
    batch_id = m.chain([{"class": jobs.Step, "args": {"name": n}} for n in "ab"]).dispatch()
    queue.run(max_jobs=1)
    queue.items.clear()  # step b's RQ job was lost (Redis restart): the row stays queued
    (_, b) = rows(batch_id)
    assert b.status == "queued"
    storage = get_storage()
    storage.jobs[b.id].status, storage.jobs[b.id].rq_job_id = "pending", ""  # advance interrupted
    assert aftermath.nudge(storage, b.batch_id) is True
    queue.run()
    assert m.get_batch(batch_id).status == "completed"
