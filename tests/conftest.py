"""Shared fixtures: a Redis database owned by the tests, and real worker subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
OWNER_KEY = "batchqueue:test-suite-owns-this-db"


def _redis():
    from redis import Redis

    return Redis.from_url(settings.REDIS_URL)


@pytest.fixture(scope="session", autouse=True)
def _own_redis_db():
    """Refuse to run against a Redis database holding someone else's keys."""
    r = _redis()
    try:
        r.ping()
    except Exception as exc:  # pragma: no cover - environment problem
        pytest.exit(f"Redis at {settings.REDIS_URL} is not reachable: {exc}", returncode=3)
    if r.dbsize() and not r.exists(OWNER_KEY):
        pytest.exit(
            f"Redis database {settings.REDIS_URL} is not empty and not marked as the test "
            "suite's; point BATCHQUEUE_TEST_REDIS at an empty database",
            returncode=3,
        )
    r.flushdb()
    r.set(OWNER_KEY, "1")
    yield


@pytest.fixture(autouse=True)
def clean_redis():
    r = _redis()
    r.flushdb()
    r.set(OWNER_KEY, "1")
    from django_batchqueue.execution.queues import reset_queue_cache

    reset_queue_cache()
    yield r


@pytest.fixture
def manager():
    from django_batchqueue import BatchManager

    return BatchManager()


def _db_env() -> dict[str, str]:
    from django.db import connection

    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    env["BATCHQUEUE_DB_NAME"] = str(connection.settings_dict["NAME"])
    env["PYTHONPATH"] = str(ROOT)
    return env


class Workers:
    """Real ``manage.py rqworker`` processes against the test database and Redis."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(
        self,
        n: int = 1,
        *queues: str,
        worker_class: str | None = None,
        burst: bool = False,
        extra: list[str] | None = None,
    ) -> list[subprocess.Popen]:
        cmd = [sys.executable, str(ROOT / "manage.py"), "rqworker", *(queues or ("batchjob",))]
        if worker_class:
            cmd += ["--worker-class", worker_class]
        if burst:
            cmd.append("--burst")
        cmd += extra or []
        started = []
        for _ in range(n):
            proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=_db_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
            self.procs.append(proc)
            started.append(proc)
        return started

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in self.procs:
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def output(self) -> str:
        chunks = []
        for proc in self.procs:
            if proc.poll() is not None and proc.stdout:
                chunks.append(proc.stdout.read())
        return "\n".join(chunks)


@pytest.fixture
def workers():
    w = Workers()
    yield w
    w.stop()


def wait_for(predicate, timeout: float = 60, interval: float = 0.1, message: str = ""):
    """Poll ``predicate`` until it returns a truthy value; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {message or predicate}")
