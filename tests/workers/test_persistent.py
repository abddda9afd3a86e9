"""PersistentBatchWorker: one work horse for many jobs, crash isolation kept."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests import reads
from tests.conftest import wait_for
from tests.integration.test_crashes import FAST, final
from tests.testapp.models import Event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

PERSISTENT = "django_batchqueue.worker.PersistentBatchWorker"


def _pids(label: str) -> list[int]:
    return [e.payload["pid"] for e in Event.objects.filter(label=label)]


def test_one_horse_runs_many_jobs_and_is_replaced_after_its_round(manager, workers):
    batch_id = manager.batch([{"class": "tests.testapp.jobs.PidJob"}] * 7).dispatch()
    workers.start(1, worker_class=PERSISTENT, env={**FAST, "BATCHQUEUE_TEST_HORSE_MAX_JOBS": "3"})
    assert final(batch_id).status == "completed"
    pids = [r.result for r in reads.jobs(batch_id)]
    # 7 jobs, 3 per horse: three horses, none of them the worker's own process.
    assert len(set(pids)) == 3, pids
    assert workers.procs[0].pid not in pids


def test_a_horse_killed_mid_job_is_recorded_at_once_and_replaced(manager, workers):
    batch_id = manager.batch([{"class": "tests.testapp.jobs.KillMe", "max_retries": 1}]).dispatch()
    started = time.monotonic()
    workers.start(1, worker_class=PERSISTENT, env=FAST)
    batch = final(batch_id)
    row = reads.job(batch_id)
    assert (batch.status, row.attempts, row.result) == ("completed", 2, "survived")
    assert row.error == "WorkerLost: the work horse was killed by signal 9 while running the job"
    assert time.monotonic() - started < 20  # at once, not after a heartbeat expired
    killed, survived = _pids("killme")
    assert killed != survived  # a new horse ran the retry
    assert workers.procs[0].poll() is None


@pytest.fixture
def short_grace(settings):
    """TIMEOUT_GRACE 2 s for the dispatcher (the RQ job's timeout) and, through the
    environment, for the workers."""
    settings.BATCHQUEUE = {**settings.BATCHQUEUE, "TIMEOUT_GRACE": 2}
    return {**FAST, "BATCHQUEUE_TEST_TIMEOUT_GRACE": "2"}


def test_a_horse_no_timeout_can_reach_is_killed_by_its_parent(manager, workers, short_grace):
    batch_id = manager.batch([{"class": "tests.testapp.jobs.BlocksAlarms"}]).dispatch()
    workers.start(1, worker_class=PERSISTENT, env=short_grace)
    wait_for(lambda: Event.objects.filter(label="blocks_alarms:start").exists(), message="start")
    started = time.monotonic()
    batch = final(batch_id, timeout=30)
    took = time.monotonic() - started
    row = reads.job(batch_id)
    assert batch.status == "failed"
    assert row.error == (
        "WorkerLost: the work horse was killed by its worker for running past its timeout "
        "while running the job"
    ), row.error
    assert 1 + 2 * 2 <= took < 1 + 2 * 2 + 1 + 4, took  # timeout + 2 x grace + 1 s, + slack
    assert not Event.objects.filter(label="blocks_alarms:end").exists()
    assert workers.procs[0].poll() is None


def test_a_job_that_swallows_even_the_second_stop_ends_its_horse(manager, workers, short_grace):
    batch_id = manager.batch([{"class": "tests.testapp.jobs.SwallowsEverything"}]).dispatch()
    then = manager.batch([{"class": "tests.testapp.jobs.Square", "args": {"n": 5}}]).dispatch()
    workers.start(1, worker_class=PERSISTENT, env=short_grace)
    batch = final(batch_id, timeout=30)
    row = reads.job(batch_id)
    assert batch.status == "failed"
    # JobTimeout at 1 s, JobTimeoutIgnored at 3 s, both swallowed; the horse exits at 5 s.
    assert row.error == "WorkerLost: the work horse exited with code 75 while running the job"
    assert final(then).status == "completed"  # a new horse carries on
    assert workers.procs[0].poll() is None


def test_sigterm_lets_the_running_job_finish_then_the_worker_exits(manager, workers):
    batch_id = manager.batch([{"class": "tests.testapp.jobs.Slow", "args": {"seconds": 2}}])
    batch_id = batch_id.dispatch()
    (proc,) = workers.start(1, worker_class=PERSISTENT, env=FAST)
    wait_for(lambda: Event.objects.filter(label="slow_start").exists(), message="job start")
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert final(batch_id).status == "completed"
