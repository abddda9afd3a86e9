"""What is particular to Redis storage (``STORAGE = "redis"``), on real Redis and real workers:
races decided by its scripts, time to live, the persistence check, crash repair, prune.

The contract's behaviours on Redis storage are checked by the parity module
(tests/workers/test_parity.py runs every behaviour there on Redis storage too).
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid

import pytest
from django.core import checks
from django.core.management import call_command

from django_batchqueue.models import Batch, BatchJob
from django_batchqueue.storage import get_storage
from django_batchqueue.storage.base import JobQuery
from django_batchqueue.storage.redis.namespace import PREFIX
from django_batchqueue.testing import drain
from tests import reads
from tests.conftest import point_queues_at, wait_for
from tests.integration.test_crashes import FAST
from tests.testapp.models import Event

pytestmark = [pytest.mark.django_db(transaction=True)]

REDIS_ENV = {**FAST, "BATCHQUEUE_TEST_STORAGE": "redis"}


@pytest.fixture(autouse=True)
def redis_storage(settings):
    settings.BATCHQUEUE = {**settings.BATCHQUEUE, "STORAGE": "redis"}
    return get_storage()


def _final(manager, batch_id, timeout=60):
    def done():
        b = manager.get_batch(batch_id)
        return b if b.status in ("completed", "failed", "cancelled") else None

    return wait_for(done, timeout=timeout, message=f"batch {batch_id} to finish")


def _jobs(batch_id, kind="job"):
    return get_storage().list_jobs(JobQuery(batch_id=uuid.UUID(str(batch_id)), kind=kind), 0, 999)


def _race(n, fn):
    """Run ``fn`` in ``n`` threads released together; their answers."""
    barrier, answers = threading.Barrier(n), []

    def one():
        barrier.wait()
        answers.append(fn())

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def test_racing_claims_and_settles_have_one_winner_each(manager, redis_storage):
    batch_id = manager.batch([{"class": "tests.testapp.jobs.Square", "args": {"n": 3}}]).dispatch()
    (row,) = _jobs(batch_id)
    claims = _race(16, lambda: redis_storage.claim_and_load(str(row.id), None, "racer"))
    winners = [c for c in claims if c is not None]
    assert len(winners) == 1 and winners[0].attempts == 1
    assert winners[0].loaded_batch.id == uuid.UUID(batch_id)
    counted = _race(16, lambda: redis_storage.complete_and_count(winners[0], 9))
    assert [c.completed for c in counted if c is not None] == [1]
    settled = _race(16, lambda: redis_storage.settle(uuid.UUID(batch_id)))
    assert settled.count(True) == 1
    assert manager.get_batch(batch_id).status == "completed"
    assert manager.get_results(batch_id) == {str(row.id): 9}


def test_a_finished_tree_expires_as_a_whole_and_an_open_one_never(manager, settings, clean_redis):
    settings.BATCHQUEUE = {**settings.BATCHQUEUE, "REDIS_TTL": 2}
    squares = [{"class": "tests.testapp.jobs.Square", "args": {"n": n}} for n in (1, 2)]
    inner = manager.batch(squares)
    done_id = (
        manager.chain([{"class": "tests.testapp.jobs.Square", "args": {"n": 3}}, inner])
        .on_complete({"class": "tests.testapp.jobs.RecordCallback", "args": {"tag": "ttl"}})
        .on_finally({"class": "tests.testapp.jobs.RecordCallback", "args": {"tag": "last"}})
        .dispatch()
    )
    open_id = manager.batch([{"class": "tests.testapp.jobs.Square", "args": {"n": 4}}]).dispatch()
    drain(max_jobs=1)  # the chain's first step; nothing else of it yet
    drain()
    assert manager.get_batch(done_id).status == "completed"
    assert [e.payload["status"] for e in Event.objects.filter(label="callback:ttl")] == [
        "completed"
    ]
    keys = [k.decode() for k in clean_redis.scan_iter(match=f"{PREFIX}*".replace("{", "[{]"))]
    tree = [k for k in keys if done_id in k or _belongs(clean_redis, k, done_id)]
    assert len(tree) > 8, tree  # root, child, their rows and indexes
    ttls = {k: clean_redis.ttl(k) for k in tree}
    assert all(0 < t <= 2 for t in ttls.values()), ttls
    # a batch dispatched later and still open keeps its keys for good
    later = manager.batch([{"class": "tests.testapp.jobs.Hang"}]).dispatch()
    assert clean_redis.ttl(f"{PREFIX}b:{later}") == -1
    time.sleep(2.5)
    assert manager.get_batch(done_id) is None
    assert not [k for k in tree if clean_redis.exists(k)]
    assert manager.get_batch(open_id) is None  # finished at the same time: expired as well
    # the on_finally run, stored after the tree got its TTL, expired with it: every row left
    # belongs to the open batch
    rows = [k.decode() for k in clean_redis.scan_iter(match=f"{PREFIX}j:*".replace("{", "[{]"))]
    assert {clean_redis.hget(k, "batch_id").decode() for k in rows} == {later}
    assert [e.payload["status"] for e in Event.objects.filter(label="callback:last")] == [
        "completed"
    ]
    assert clean_redis.ttl(f"{PREFIX}b:{later}") == -1
    assert get_storage().forget_expired() >= 1  # type: ignore[attr-defined]


def _belongs(client, key, root):
    """Whether a row or batch key belongs to the tree of ``root``."""
    kind = key[len(PREFIX) :].split(":", 1)[0]
    if kind == "j":
        batch_id = client.hget(key, "batch_id")
    elif kind == "b":
        batch_id = key.rsplit(":", 1)[1]
    else:
        return False
    if batch_id is None:
        return False
    batch_id = batch_id.decode() if isinstance(batch_id, bytes) else batch_id
    root_of = client.hget(f"{PREFIX}b:{batch_id}", "root_id")
    return batch_id == root or (root_of or b"").decode() == root


def test_check_warns_when_the_storage_redis_keeps_nothing_on_disk(
    private_redis, settings, monkeypatch
):
    get_storage().reset()  # type: ignore[attr-defined]
    (warning,) = [m for m in checks.run_checks() if m.id == "django_batchqueue.W020"]
    assert "keeps nothing on disk" in warning.msg
    private_redis.stop()
    private_redis.start(appendonly=True)
    found = [m.msg for m in checks.run_checks() if m.id == "django_batchqueue.W020"]
    assert not found, (found, get_storage().client.config_get("appendonly"))


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("REDIS_TTL", -5, "REDIS_TTL"),
        ("REDIS_TTL", "week", "REDIS_TTL"),
        ("REDIS_STORAGE_URL", "localhost:6379", "REDIS_STORAGE_URL"),
    ],
)
def test_bad_redis_storage_settings_are_check_errors(settings, key, value, says):
    settings.BATCHQUEUE = {**settings.BATCHQUEUE, key: value}
    errors = [m for m in checks.run_checks() if m.level >= checks.ERROR]
    assert any(says in m.msg and repr(value) in m.msg for m in errors), errors


@pytest.mark.worker
def test_a_worker_killed_mid_job_is_repaired_on_redis_storage(manager, workers):
    batch_id = manager.batch([{"class": "tests.testapp.jobs.Hang", "max_retries": 1}]).dispatch()
    (victim,) = workers.start(
        1, worker_class="django_batchqueue.worker.SimpleBatchWorker", env=REDIS_ENV
    )
    wait_for(lambda: Event.objects.filter(label="hang").exists(), message="the job to start")
    workers.start(1, worker_class="django_batchqueue.worker.PersistentBatchWorker", env=REDIS_ENV)
    killed_at = time.monotonic()
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    batch = _final(manager, batch_id)
    (row,) = _jobs(batch_id)
    assert (batch.status, row.attempts, row.result) == ("completed", 2, "done")
    assert row.error.startswith("WorkerLost: worker"), row.error
    assert time.monotonic() - killed_at < 20
    assert (Batch.objects.count(), BatchJob.objects.count()) == (0, 0)


@pytest.mark.worker
def test_a_redis_restart_from_its_aof_leaves_no_batch_stuck(
    manager, workers, private_redis, settings, monkeypatch
):
    private_redis.stop()
    private_redis.start(appendonly=True)
    point_queues_at(private_redis.queues(), settings, monkeypatch)
    env = {**REDIS_ENV, "BATCHQUEUE_TEST_REDIS": private_redis.url}
    slow = [{"class": "tests.testapp.jobs.Slow", "args": {"seconds": 0.2}} for _ in range(20)]
    batch_id = manager.batch(slow).on_complete("tests.testapp.jobs.RecordCallback").dispatch()
    workers.start(2, worker_class="django_batchqueue.worker.PersistentBatchWorker", env=env)
    wait_for(
        lambda: Event.objects.filter(label="slow_end").count() >= 3, message="some jobs to finish"
    )
    private_redis.stop()  # kill -9 of the server, mid-batch
    time.sleep(2)
    private_redis.start(appendonly=True)
    batch = _final(manager, batch_id, timeout=90)
    errors = [r.error for r in _jobs(batch_id) if r.error]
    assert (batch.status, batch.completed_jobs) == ("completed", 20), errors
    # the callback starts once the batch has settled: wait for the tree to be finished
    wait_for(lambda: reads.settled(batch_id), timeout=60, message="the callback to run")
    assert Event.objects.filter(label="callback:cb").count() == 1


def test_cancel_and_retry_failed_when_a_counter_does_not_change(manager):
    """Cancelling a batch with nothing waiting (every job already handed to RQ) and retrying a
    batch with failures but no cancellations lower a counter by zero."""
    queued = manager.batch([{"class": "tests.testapp.jobs.Square", "args": {"n": 2}}]).dispatch()
    assert manager.cancel(queued) is True
    assert manager.get_batch(queued).status == "cancelled"
    failing = manager.batch([{"class": "tests.testapp.jobs.Boom", "max_retries": 0}]).dispatch()
    drain()
    assert manager.get_batch(failing).status == "failed"
    assert manager.retry_failed(failing) == 1
    (row,) = _jobs(failing)
    assert (row.status, row.attempts, row.error) == ("queued", 0, "")
    assert manager.get_batch(failing).failed_jobs == 0


def test_prune_and_reconcile_commands_work_on_redis_storage(manager, redis_storage):
    old = manager.batch([{"class": "tests.testapp.jobs.Square", "args": {"n": 2}}]).dispatch()
    drain()
    assert manager.get_batch(old).status == "completed"
    call_command("batchqueue_reconcile", "--grace=0")
    call_command("batchqueue_prune", "--hours=0")
    assert manager.get_batch(old) is None
    assert redis_storage.count_rows([uuid.UUID(old)]) == 0
