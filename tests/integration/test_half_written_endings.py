"""A worker killed between a batch's ending and what follows it (callbacks created, unstarted
jobs cancelled, compensation started) loses none of it.

SQL storage writes an ending and its follow-ups in one transaction, so a death in between
rolls the ending back and reconcile settles the batch again. Redis storage cannot span a
transaction over Python code: its ending keeps ``acting`` until the follow-ups are written,
and reconcile's nudge redoes whatever is missing. ``Died`` is raised at the exact point (a
``BaseException``: none of our handlers catch it, so nothing of ours after it runs, as after
kill -9; RQ's worker, around the job, records its RQ job as failed).
"""

from __future__ import annotations

from typing import Any

import pytest

from django_batchqueue.execution import callbacks, compensation
from django_batchqueue.execution.reconcile import reconcile
from django_batchqueue.storage import get_storage
from django_batchqueue.testing import drain
from tests import reads
from tests.testapp.jobs import Boom, RecordCallback, Square, Step, SumResults, Undo
from tests.testapp.models import Event

pytestmark = pytest.mark.django_db(transaction=True)


class Died(BaseException):
    """The worker is gone at this point."""


def die_once(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> None:
    """The first call of ``owner.name`` kills the worker; later ones (reconcile's) run."""
    real = getattr(owner, name)
    calls: list[int] = []

    def dying(*args: Any, **kwargs: Any) -> Any:
        if not calls:
            calls.append(1)
            raise Died(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, dying)


@pytest.fixture
def on_redis(settings):
    """Redis storage: what is particular to an ending that is not one transaction."""
    settings.BATCHQUEUE = {**settings.BATCHQUEUE, "STORAGE": "redis"}
    return get_storage()


def labels(label: str) -> list[Any]:
    return [e.payload for e in Event.objects.filter(label=label).order_by("id")]


def test_a_worker_dying_after_the_last_job_settled_the_batch_still_runs_on_complete(
    manager, each_storage, monkeypatch
):
    batch_id = (
        manager.batch([{"class": Square, "args": {"n": n}} for n in range(3)])
        .on_complete(SumResults)
        .dispatch()
    )
    die_once(monkeypatch, callbacks, "on_settled")
    drain()  # RQ's worker records the dead run's job as failed; the rest is ours to repair
    assert labels("sum") == []
    report = reconcile(grace_seconds=0)
    assert report.stalled_batches == 1, report.details
    drain()
    assert [p["total"] for p in labels("sum")] == [0 + 1 + 4]  # once
    batch = reads.batch(batch_id)
    assert (batch.status, batch.acting) == ("completed", "")
    assert batch.finalized_at is not None
    assert reconcile(grace_seconds=0).changed == 0


def saga(manager) -> Any:
    return (
        manager.chain(
            [
                {"class": Step, "args": {"name": "a"}, "compensation": Undo},
                {"class": Boom, "args": {"message": "b failed"}, "max_retries": 0},
            ]
        )
        .on_failure(RecordCallback)
        .dispatch()
    )


def _assert_undone_once(batch_id: Any) -> None:
    assert [p["original_position"] for p in labels("undo")] == [0]
    assert [p["error"] for p in labels("callback:cb")] == ["RuntimeError: b failed"]
    batch = reads.batch(batch_id)
    assert (batch.status, batch.compensation_status, batch.acting) == ("failed", "completed", "")
    assert batch.finalized_at is not None
    assert reconcile(grace_seconds=0).changed == 0


def test_a_saga_whose_worker_died_after_failing_it_is_still_undone_and_told(
    manager, on_redis, monkeypatch
):
    batch_id = saga(manager)
    die_once(monkeypatch, callbacks, "on_failed")
    drain()  # RQ's worker records the dead run's job as failed; the rest is ours to repair
    batch = reads.batch(batch_id)
    assert (batch.status, batch.acting, batch.compensation_status) == ("failed", "failed", None)
    assert reads.jobs(batch_id, "callback") == []  # on_failure was never created
    report = reconcile(grace_seconds=0)
    assert report.stalled_batches == 1, report.details
    drain()
    _assert_undone_once(batch_id)


def test_compensation_runs_stored_but_never_started_are_started(manager, on_redis, monkeypatch):
    batch_id = saga(manager)
    die_once(monkeypatch, type(on_redis), "set_compensation_status")
    drain()  # RQ's worker records the dead run's job as failed; the rest is ours to repair
    assert [r.status for r in reads.jobs(batch_id, "compensation")] == ["pending"]
    assert reads.batch(batch_id).compensation_status is None
    reconcile(grace_seconds=0)
    drain()
    _assert_undone_once(batch_id)


def test_a_cancel_with_compensation_cut_short_is_finished_by_reconcile(
    manager, on_redis, monkeypatch
):
    batch_id = manager.chain(
        [
            {"class": Step, "args": {"name": "a"}, "compensation": Undo},
            {"class": Step, "args": {"name": "b"}, "compensation": Undo},
        ]
    ).dispatch()
    drain(max_jobs=1)  # a ran; b is queued
    die_once(monkeypatch, compensation, "undo_batch")
    with pytest.raises(Died):
        manager.cancel(batch_id, compensate=True)
    batch = reads.batch(batch_id)
    assert (batch.status, batch.acting) == ("cancelled", "cancelled+undo")
    reconcile(grace_seconds=0)
    drain()
    assert [p["name"] for p in labels("step")] == ["a"]  # b was cancelled, never ran
    assert [p["original_position"] for p in labels("undo")] == [0]
    batch = reads.batch(batch_id)
    assert (batch.compensation_status, batch.acting) == ("completed", "")
    assert reconcile(grace_seconds=0).changed == 0


def test_a_chain_step_is_counted_with_its_context_as_it_finishes(manager, on_redis, monkeypatch):
    """A worker dying right after a step finished leaves it counted, its context stored: the
    chain goes on (before, the count came in a later step and the chain never settled)."""
    from django_batchqueue.execution import reactions

    batch_id = manager.chain([{"class": Step, "args": {"name": n}} for n in "abc"]).dispatch()
    die_once(monkeypatch, reactions, "member_completed")
    drain()
    batch = reads.batch(batch_id)
    assert (batch.status, batch.completed_jobs, batch.context["steps"]) == ("running", 1, ["a"])
    assert reconcile(grace_seconds=0).stalled_batches == 1
    drain()
    batch = reads.batch(batch_id)
    assert (batch.status, batch.completed_jobs) == ("completed", 3)
    assert batch.context["steps"] == ["a", "b", "c"]
    assert [p["name"] for p in labels("step")] == ["a", "b", "c"]  # each once


def test_counters_behind_the_rows_are_corrected_and_the_batch_settles(manager, on_redis):
    """A count lost with a killed worker (as before counting joined the finish) leaves every
    row finished and the batch open; reconcile recounts from the rows and settles it."""
    from tests import tamper

    batch_id = (
        manager.batch([{"class": Square, "args": {"n": n}} for n in range(3)])
        .on_complete(SumResults)
        .dispatch()
    )
    drain(max_jobs=1)
    tamper.batch(batch_id, completed_jobs=0)  # the first completion's count was lost
    drain()
    batch = reads.batch(batch_id)
    assert (batch.status, batch.completed_jobs) == ("running", 2)
    assert [r.status for r in reads.jobs(batch_id)] == ["completed"] * 3
    assert reconcile(grace_seconds=0).stalled_batches == 1
    drain()
    batch = reads.batch(batch_id)
    assert (batch.status, batch.completed_jobs) == ("completed", 3)
    assert [p["total"] for p in labels("sum")] == [0 + 1 + 4]
    assert reconcile(grace_seconds=0).changed == 0


def test_a_strict_batch_whose_failure_was_recorded_but_not_acted_on_fails(
    manager, on_redis, monkeypatch
):
    """Killed between recording a job's failure and failing its strict batch: the other jobs
    complete, yet the batch must fail (on_failure, never on_complete), as seen in a chaos run."""
    from django_batchqueue.execution import reactions

    batch_id = (
        manager.batch([Boom] + [{"class": Square, "args": {"n": n}} for n in range(3)])
        .on_complete({"class": RecordCallback, "args": {"tag": "complete"}})
        .on_failure({"class": RecordCallback, "args": {"tag": "failure"}})
        .dispatch()
    )
    die_once(monkeypatch, reactions, "member_failed")
    drain()
    batch = reads.batch(batch_id)
    assert (batch.status, batch.completed_jobs, batch.failed_jobs) == ("running", 3, 1)
    assert reconcile(grace_seconds=0).stalled_batches == 1
    drain()
    assert reads.batch(batch_id).status == "failed"
    assert labels("callback:complete") == []
    assert [p["error"] for p in labels("callback:failure")] == ["RuntimeError: boom"]
    assert reconcile(grace_seconds=0).changed == 0


def test_a_chain_whose_failed_step_was_not_acted_on_stops_there_and_undoes(
    manager, on_redis, monkeypatch
):
    from django_batchqueue.execution import reactions

    batch_id = manager.chain(
        [
            {"class": Step, "args": {"name": "a"}, "compensation": Undo},
            {"class": Boom, "args": {"message": "b failed"}, "max_retries": 0},
            {"class": Step, "args": {"name": "c"}},
        ]
    ).dispatch()
    die_once(monkeypatch, reactions, "member_failed")
    drain()
    assert reads.batch(batch_id).status == "running"
    reconcile(grace_seconds=0)
    drain()
    batch = reads.batch(batch_id)
    assert (batch.status, batch.compensation_status) == ("failed", "completed")
    assert [p["name"] for p in labels("step")] == ["a"]  # c never started
    assert [p["original_position"] for p in labels("undo")] == [0]


def test_jobs_queued_when_a_strict_batch_failed_are_cancelled_before_they_run(
    manager, on_redis, monkeypatch
):
    """Killed after failing the batch, before cancelling its queued jobs: reconcile cancels
    them although they are active (queued), instead of waiting for them to run."""
    batch_id = manager.batch(
        [{"class": Boom, "max_retries": 0}]
        + [{"class": Square, "args": {"n": n}} for n in range(3)]
    ).dispatch()
    die_once(monkeypatch, type(on_redis), "cancel_unstarted")
    drain(max_jobs=1)  # the failing job only; the three others stay queued
    assert reads.batch(batch_id).acting == "failed"
    assert reconcile(grace_seconds=0).stalled_batches == 1
    drain()
    assert labels("square") == []
    batch = reads.batch(batch_id)
    assert (batch.status, batch.cancelled_jobs, batch.acting) == ("failed", 3, "")


def test_the_second_outcome_after_retry_failed_gets_its_own_callbacks(
    manager, on_redis, monkeypatch
):
    """An earlier outcome's callback rows (before retry_failed) do not stand in for the new
    outcome's when its follow-ups are redone."""
    batch_id = (
        manager.batch([{"class": Boom, "max_retries": 0}, {"class": Square, "args": {"n": 2}}])
        .allow_failures()
        .on_complete({"class": RecordCallback, "args": {"tag": "complete"}})
        .dispatch()
    )
    drain()
    assert len(labels("callback:complete")) == 1
    assert manager.retry_failed(batch_id)
    die_once(monkeypatch, callbacks, "on_settled")
    drain()  # Boom fails again; the batch completes (with a failure) and the worker dies
    reconcile(grace_seconds=0)
    drain()
    assert len(labels("callback:complete")) == 2  # once per outcome
    assert reconcile(grace_seconds=0).changed == 0


def test_a_nested_batch_over_before_its_parent_heard_of_it_is_reported(
    manager, on_redis, monkeypatch
):
    """Killed after a nested batch's outcome was over, before its member row in the parent
    finished: reconcile reports it to the parent, and the chain goes on."""
    from django_batchqueue import batch as nested
    from django_batchqueue import chain
    from django_batchqueue.execution import aftermath

    root = chain(
        [nested([{"class": Square, "args": {"n": 3}}]), {"class": Step, "args": {"name": "after"}}]
    ).dispatch()
    die_once(monkeypatch, aftermath, "_member_ended")
    drain()
    assert reads.batch(root).status == "running" and labels("step") == []
    assert reconcile(grace_seconds=0).stalled_batches >= 1
    drain()
    assert reads.batch(root).status == "completed"
    assert [p["name"] for p in labels("step")] == ["after"]


def test_an_addition_killed_after_growing_the_batch_leaves_it_to_settle_by_its_rows(
    manager, on_redis, monkeypatch
):
    """add_jobs grows the batch, then stores the rows: killed in between, the batch counts two
    members it never got. Reconcile trusts the rows (as SQL storage's rollback would have)."""
    batch_id = (
        manager.batch([{"class": Square, "args": {"n": n}} for n in range(2)])
        .on_complete(SumResults)
        .dispatch()
    )
    die_once(monkeypatch, type(on_redis), "add_new_jobs")
    with pytest.raises(Died):
        manager.add_jobs(batch_id, [{"class": Square, "args": {"n": 9}}] * 2)
    drain()
    batch = reads.batch(batch_id)
    assert (batch.status, batch.total_jobs, batch.completed_jobs) == ("running", 4, 2)
    assert reconcile(grace_seconds=0).stalled_batches == 1
    drain()
    batch = reads.batch(batch_id)
    assert (batch.status, batch.total_jobs, batch.waiting_jobs) == ("completed", 2, 0)
    assert [p["total"] for p in labels("sum")] == [0 + 1]
