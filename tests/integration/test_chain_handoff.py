"""A chain step's ending and hand-off: what ``complete_member`` and ``queue_next_step`` write, on
every storage, and what the one-statement PostgreSQL versions cost (issue 16, item 2)."""

import uuid
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from django_batchqueue.execution.runner import execute
from django_batchqueue.storage import get_storage
from django_batchqueue.testing import drain
from tests.reads import batch as read_batch
from tests.reads import jobs
from tests.testapp.jobs import Noop, PriceValues, Step

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.mark.usefixtures("each_storage")
def test_a_step_hands_its_result_to_the_next_and_leaves_the_waiting_count(manager):
    batch_id = manager.chain(
        [{"class": PriceValues, "args": {"n": 2}}, {"class": Step, "args": {"name": "b"}}, Noop]
    ).dispatch()
    assert drain(max_jobs=1) == 1
    first, second, third = jobs(batch_id)
    assert (first.status, second.status, third.status) == ("completed", "queued", "pending")
    # The Decimal, datetime and UUID of the result reach the next step as JSON, as stored.
    assert second.meta["previous_result"] == first.result
    assert Decimal(second.meta["previous_result"]["total"]) == Decimal("24.68")
    batch = read_batch(batch_id)
    assert (batch.status, batch.completed_jobs, batch.waiting_jobs) == ("running", 1, 1)
    assert drain() == 2
    batch = read_batch(batch_id)
    assert (batch.status, batch.completed_jobs, batch.waiting_jobs) == ("completed", 3, 0)
    assert jobs(batch_id)[2].meta["previous_result"] == {"name": "b", "seen": []}


@pytest.mark.usefixtures("each_storage")
def test_queue_next_step_says_what_comes_first_and_queues_only_a_job(manager):
    nested = manager.batch([Noop, Noop])
    batch_id = uuid.UUID(manager.chain([Noop, nested, Noop]).dispatch())
    storage = get_storage()
    assert drain(max_jobs=1) == 1  # the first step; the nested batch then started and runs
    member = jobs(batch_id, kind="batch")[0]
    assert member.status == "running"
    # With the nested member running, the first pending member is the last job: queue it by
    # hand, as a worker's hand-off would (a chain never does while a member runs).
    with storage.atomic():
        step = storage.queue_next_step(batch_id, "rq-by-hand", {"previous_result": 7})
    last = jobs(batch_id)[-1]
    assert (step.row_id, step.kind, step.queued) == (last.id, "job", True)
    assert (last.status, last.rq_job_id) == ("queued", "rq-by-hand")
    assert last.meta == {"previous_result": 7}
    with storage.atomic():
        assert storage.queue_next_step(batch_id, "rq-again", {}).row_id is None


@pytest.mark.usefixtures("each_storage")
def test_queue_next_step_leaves_a_nested_batch_for_the_caller_to_start(manager):
    batch_id = uuid.UUID(manager.chain([Noop, manager.chain([Noop]), Noop]).dispatch())
    member = jobs(batch_id, kind="batch")[0]
    # The first step is queued (not run yet); the nested member is the first pending one.
    with get_storage().atomic():
        step = get_storage().queue_next_step(batch_id, "never-used", {})
    assert (step.row_id, step.kind, step.queued) == (member.id, "batch", False)
    assert jobs(batch_id, kind="batch")[0].status == "pending"
    # Run for real, the first step's hand-off starts the nested chain (the caller's part).
    assert drain(max_jobs=1) == 1
    assert jobs(batch_id, kind="batch")[0].status == "running"
    assert drain() == 2
    assert read_batch(batch_id).status == "completed"


def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement hand-off and asynchronous commits are PostgreSQL's")


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.sql_only("ASYNC_JOB_COMMITS tunes SQL storage's commits")
@pytest.mark.parametrize(
    ("durable", "async_setting", "expected"),
    [(False, True, "off"), (True, True, "on"), (False, False, "on")],
)
def test_only_a_hand_off_that_decides_nothing_else_commits_asynchronously(
    manager, settings, durable, async_setting, expected
):
    _postgres_only()
    settings.BATCHQUEUE = {**settings.BATCHQUEUE, "ASYNC_JOB_COMMITS": async_setting}
    batch_id = uuid.UUID(manager.chain([Noop, Noop]).dispatch())
    storage = get_storage()
    with transaction.atomic():
        assert _synchronous_commit() == "on"
        step = storage.queue_next_step(batch_id, "rq-x", {}, durable=durable)
        assert step.queued
        assert _synchronous_commit() == expected
    assert _synchronous_commit() == "on"  # SET LOCAL: this transaction only


@pytest.mark.sql_only("ASYNC_JOB_COMMITS tunes SQL storage's commits")
def test_a_last_step_finding_nothing_to_queue_stays_synchronous(manager):
    """Nothing queued means the chain settles next, in the same transaction: durable."""
    _postgres_only()
    batch_id = uuid.UUID(manager.chain([Noop]).dispatch())
    with transaction.atomic():
        step = get_storage().queue_next_step(batch_id, "rq-x", {}, durable=False)
        assert step.row_id is None
        assert _synchronous_commit() == "on"


@pytest.mark.sql_only("counts SQL statements")
def test_a_middle_step_is_claimed_recorded_and_handed_off_in_three_statements(manager):
    _postgres_only()
    batch_id = manager.chain([Noop, Noop, Noop]).dispatch()
    drain(max_jobs=1)  # the batch is running: the next claim does not start it
    second = jobs(batch_id)[1]
    with CaptureQueriesContext(connection) as captured:
        assert execute(str(second.id), second.rq_job_id, "test-worker") == "completed"
    statements = [q["sql"].split()[0] for q in captured.captured_queries]
    # The claim (its own autocommit statement), then one transaction: completion + count +
    # the batch row (WITH ... UPDATE), and the hand-off (WITH ... SELECT). Before issue 16
    # the recording took six statements.
    assert statements == ["WITH", "BEGIN", "WITH", "WITH", "COMMIT"], captured.captured_queries
    # The hand-off decided nothing else: its transaction commits asynchronously.
    assert "set_config('synchronous_commit', 'off', true)" in captured.captured_queries[3]["sql"]
    assert [r.status for r in jobs(batch_id)] == ["completed", "completed", "queued"]
