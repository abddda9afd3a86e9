"""Redis killed and restarted (empty, or from its AOF) under real workers running real jobs:
no worker quits, no job runs twice, every outcome is recorded and every batch settles."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from tests.conftest import wait_for
from tests.integration.test_crashes import FAST, final
from tests.testapp.models import Event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

SIMPLE = "django_batchqueue.worker.SimpleBatchWorker"
FORKING = "django_batchqueue.worker.BatchWorker"
PERSISTENT = "django_batchqueue.worker.PersistentBatchWorker"
#: Redis storage keeps batches in that Redis: restarted empty, they are gone (docs/storage.md).
EMPTY_LOSES_REDIS_STORAGE = pytest.mark.sql_only("an empty Redis restart loses Redis storage")


@pytest.mark.parametrize(
    ("worker_class", "restart"),
    [
        pytest.param(FORKING, "empty", marks=EMPTY_LOSES_REDIS_STORAGE),
        pytest.param(SIMPLE, "empty", marks=EMPTY_LOSES_REDIS_STORAGE),
        (FORKING, "aof"),
        (PERSISTENT, "aof"),
    ],
)
def test_workers_ride_out_a_redis_restart_and_run_nothing_twice(
    manager, workers, private_redis, worker_class, restart
):
    aof = restart == "aof"
    if aof:
        private_redis.stop()
        private_redis.start(appendonly=True)
    slow = [{"class": "tests.testapp.jobs.Slow", "args": {"seconds": 5}}] * 2
    quick = [{"class": "tests.testapp.jobs.Square", "args": {"n": n}} for n in range(6)]
    batch_id = manager.batch(slow + quick).dispatch()
    env = {**FAST, "BATCHQUEUE_TEST_REDIS": private_redis.url}
    workers.start(2, worker_class=worker_class, env=env)
    wait_for(
        lambda: Event.objects.filter(label="slow_start").count() == 2 or None,
        message="both slow jobs to start",
    )
    private_redis.stop()  # kill -9, mid-job
    time.sleep(3)
    private_redis.start(appendonly=aof)
    batch = final(batch_id, timeout=90)
    assert batch.status == "completed", batch.error
    assert batch.completed_jobs == 8
    starts = Counter(e.payload["position"] for e in Event.objects.filter(label="slow_start"))
    assert starts == {0: 1, 1: 1}, starts  # each ran once, its outcome recorded after the outage
    assert all(p.poll() is None for p in workers.procs), "a worker quit"
