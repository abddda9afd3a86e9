"""A bounded run of bench/chaos.py in the suite: 4 worker processes under every kind of fault
(kill -9 of workers, horses and process groups; Redis killed and restarted empty and from its
AOF, on a redis-server of the test's own; pg_terminate_backend of the workers' connections on
PostgreSQL), then the full verdict, read through storage (SQL or Redis): nothing lost, nothing
run twice unless its own process was killed, callbacks once, compensations once and in order,
everything settled."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from django.db import connection

from bench.chaos import Config, report, run_chaos
from bench.chaos_faults import ALL_FAULTS, RedisServer, Schedule
from tests.conftest import SUITE_STORAGE, _db_env, point_queues_at

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
]
#: On Redis storage batch state lives in the run's own Redis: it keeps every acknowledged write
#: (appendfsync always, as docs/storage.md advises), and is never restarted empty (that loses
#: every Redis-stored batch by design).
ON_REDIS = SUITE_STORAGE == "redis"

FAST = {  # as in test_crashes.py: a killed worker is noticed within seconds
    "BATCHQUEUE_TEST_HEARTBEAT_TTL": "3",
    "BATCHQUEUE_TEST_RECONCILE_INTERVAL": "2",
    "BATCHQUEUE_TEST_RECONCILE_GRACE": "1",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def chaos_redis(tmp_path: Path, settings, monkeypatch):
    """A redis-server of this test's own (with an AOF), which the run kills and restarts."""
    from django_batchqueue.execution.queues import reset_queue_cache

    server = RedisServer(
        _free_port(), tmp_path / "redis", appendfsync="always" if ON_REDIS else "everysec"
    )
    server.start()
    queues = {name: {**cfg, "URL": server.url} for name, cfg in settings.RQ_QUEUES.items()}
    point_queues_at(queues, settings, monkeypatch)
    yield server
    server.stop()
    reset_queue_cache()


def test_a_bounded_chaos_run_loses_nothing_and_runs_nothing_twice(workers, chaos_redis, tmp_path):
    worker_env = {**FAST, "BATCHQUEUE_TEST_REDIS": chaos_redis.url}

    def spawn(extra: dict[str, str]):
        (proc,) = workers.start(
            1, worker_class="django_batchqueue.worker.BatchWorker", env={**worker_env, **extra}
        )
        return proc

    config = Config(
        minutes=1.0,
        faults=tuple(k for k in ALL_FAULTS if not (ON_REDIS and k == "redis-empty")),
        workers=4,
        in_flight=12,
        settle_timeout=90,
        settle_limit=30,
        reconcile_every=5,
        schedule=Schedule(kill_every=3, redis_every=22, redis_down=2, pg_every=8, warm_up=3),
        seed=11,
    )
    pg = connection.vendor == "postgresql"
    result = run_chaos(
        config,
        out=tmp_path / "chaos",
        spawn=spawn,
        env={**_db_env(), **worker_env},
        redis=chaos_redis,
        pg=pg,
    )
    print()
    report(result)
    # Every kind of fault struck at least once (kill-horse needs a horse at that moment).
    expected = {"kill-worker", "kill-group", *config.faults} - {"kill-horse"}
    if not pg:
        expected.discard("pg-terminate")
    assert expected <= set(result.faults), dict(result.faults)
    assert result.verdict.figures["completions"] > 100
    assert result.settled, "the run did not settle within 90 s of the last fault"
    assert result.verdict.violations == []
