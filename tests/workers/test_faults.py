"""Faults user code causes, on real worker processes: a job that leaves a transaction open,
a job that swallows its own timeout. Neither may wedge the worker or lose the true outcome."""

from __future__ import annotations

import time

import pytest

from tests import reads
from tests.conftest import wait_for
from tests.integration.test_crashes import FAST, final
from tests.testapp.models import Event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

SIMPLE = "django_batchqueue.worker.SimpleBatchWorker"
FORKING = "django_batchqueue.worker.BatchWorker"
PERSISTENT = "django_batchqueue.worker.PersistentBatchWorker"


@pytest.mark.parametrize(
    ("worker_class", "mode"),
    [(SIMPLE, "atomic"), (SIMPLE, "autocommit"), (FORKING, "atomic"), (PERSISTENT, "atomic")],
)
def test_a_job_that_leaves_a_transaction_open_cannot_wedge_the_worker(
    manager, workers, worker_class, mode
):
    leak = {"class": "tests.testapp.jobs.LeaksTransaction", "args": {"mode": mode}}
    first = manager.batch([{**leak, "max_retries": 1}]).dispatch()
    squares = [{"class": "tests.testapp.jobs.Square", "args": {"n": n}} for n in (2, 3)]
    after_id = manager.batch(squares).dispatch()
    workers.start(1, worker_class=worker_class, env=FAST)
    assert final(first).status == "completed"
    row = reads.job(first)
    assert (row.status, row.attempts, row.result) == ("completed", 2, 2)
    # The first attempt's own write was rolled back with its transaction, never committed.
    assert not Event.objects.filter(label="leaked").exists()
    assert list(Event.objects.filter(label="leaks:done").values_list("payload", flat=True)) == [
        {"attempt": 2}
    ]
    # The same worker goes on claiming and recording jobs.
    assert final(after_id).status == "completed"
    how = "an atomic() block" if mode == "atomic" else "a transaction"
    assert f"the job left {how} open on database 'default'" in workers.output()


@pytest.mark.parametrize("worker_class", [SIMPLE, FORKING, PERSISTENT])
def test_a_job_that_swallows_its_timeout_is_stopped_at_timeout_plus_grace(
    manager, workers, worker_class
):
    stuck = manager.batch([{"class": "tests.testapp.jobs.SwallowsTimeout"}]).dispatch()
    then = manager.batch([{"class": "tests.testapp.jobs.Square", "args": {"n": 4}}]).dispatch()
    workers.start(1, worker_class=worker_class, env={**FAST, "BATCHQUEUE_TEST_TIMEOUT_GRACE": "2"})
    wait_for(lambda: Event.objects.filter(label="swallows:start").exists(), message="job start")
    started = time.monotonic()
    batch = final(stuck, timeout=30)
    took = time.monotonic() - started
    row = reads.job(stuck)
    assert batch.status == "failed"
    assert row.error == (
        "JobTimeoutIgnored: job ignored its timeout of 1s for 2s more and was stopped"
    ), row.error
    assert took < 1 + 2 + 3, took  # timeout + grace, plus polling slack
    assert not Event.objects.filter(label="swallows:end").exists()
    assert final(then).status == "completed"  # the same worker carries on
    assert all(p.poll() is None for p in workers.procs)
