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


@pytest.fixture(scope="session")
def _own_redis_db():
    """Refuse to run against a Redis database holding someone else's keys (once per session,
    when the first test that uses Redis runs)."""
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
def clean_redis(request):
    """An empty test Redis database for every test, except the fast tier's (no Redis there)."""
    if request.node.get_closest_marker("fast"):
        yield None
        return
    request.getfixturevalue("_own_redis_db")
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


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A redis-server of this test's own, to stop and start for outage tests."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = _free_port()
        self.dir = tmp_path
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self, appendonly: bool = False) -> None:
        """Start (or restart) the server; with ``appendonly`` it keeps an AOF (fsync on every
        write) and a restart reloads it, else it starts empty."""
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes" if appendonly else "no",
                "--appendfsync",
                "always",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        from redis import Redis

        client = Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def queues(self) -> dict:
        from django.conf import settings

        return {name: {**cfg, "URL": self.url} for name, cfg in settings.RQ_QUEUES.items()}


def point_queues_at(queues: dict, settings, monkeypatch) -> None:
    """Use ``queues`` as RQ_QUEUES for the rest of the test (django-rq 3 reads the setting
    once, at import, into ``django_rq.settings.QUEUES``; django-rq 4 reads it each time)."""
    import django_rq.settings

    from django_batchqueue.execution.queues import reset_queue_cache

    settings.RQ_QUEUES = queues
    if hasattr(django_rq.settings, "QUEUES"):
        monkeypatch.setattr(django_rq.settings, "QUEUES", queues)
    reset_queue_cache()


@pytest.fixture
def private_redis(tmp_path, settings, monkeypatch):
    """Point every queue at a private Redis (real server; stop() makes a real outage)."""
    from django_batchqueue.execution.queues import reset_queue_cache

    server = PrivateRedis(tmp_path)
    server.start()
    point_queues_at(server.queues(), settings, monkeypatch)
    yield server
    server.stop()
    reset_queue_cache()


#: The storage the whole suite runs on: ``sql``, or ``redis`` for the Redis-storage run
#: (``make test-redis-storage``: ``BATCHQUEUE_TEST_STORAGE=redis``).
SUITE_STORAGE = os.environ.get("BATCHQUEUE_TEST_STORAGE", "sql")


def pytest_runtest_setup(item):
    marker = item.get_closest_marker("sql_only")
    if SUITE_STORAGE != "sql" and marker is not None:
        pytest.skip(f"SQL storage only: {marker.args[0]}")


@pytest.fixture(params=["sql", "redis"])
def each_storage(request, settings):
    """Run the test on SQL storage and again on Redis storage (``STORAGE = "redis"``). A test
    marked ``sql_only`` (with the reason) is about what only SQL storage does. In the
    Redis-storage run of the suite, the SQL half is left to the SQL runs."""
    marker = request.node.get_closest_marker("sql_only")
    if request.param == "redis" and marker is not None:
        pytest.skip(f"SQL storage only: {marker.args[0]}")
    if request.param == "sql" and SUITE_STORAGE != "sql":
        pytest.skip("SQL storage: the suite's SQL runs cover it")
    settings.BATCHQUEUE = {**settings.BATCHQUEUE, "STORAGE": request.param}
    return request.param


def _db_env() -> dict[str, str]:
    from django.db import connection

    from django_batchqueue import conf

    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    env["BATCHQUEUE_TEST_STORAGE"] = conf.get("STORAGE")  # workers use the test's storage
    env["BATCHQUEUE_DB_NAME"] = str(connection.settings_dict["NAME"])
    env["PYTHONPATH"] = str(ROOT)
    return env


class Workers:
    """Real ``manage.py rqworker`` processes against the test database and Redis."""

    def __init__(self, log_dir: Path) -> None:
        self.procs: list[subprocess.Popen] = []
        self.log_dir = log_dir
        self.logs: list[Path] = []

    def start(
        self,
        n: int = 1,
        *queues: str,
        worker_class: str | None = None,
        burst: bool = False,
        extra: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> list[subprocess.Popen]:
        cmd = [sys.executable, str(ROOT / "manage.py"), "rqworker", *(queues or ("batchjob",))]
        if worker_class:
            cmd += ["--worker-class", worker_class]
        if burst:
            cmd.append("--burst")
        cmd += extra or []
        started = []
        for _ in range(n):
            # A file, not a pipe: a chatty worker must never block on a full pipe.
            log = self.log_dir / f"worker-{len(self.procs)}.log"
            self.logs.append(log)
            proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env={**_db_env(), **(env or {})},
                stdout=log.open("w"),
                stderr=subprocess.STDOUT,
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
        return "\n".join(log.read_text() for log in self.logs if log.exists())


@pytest.fixture
def workers(tmp_path, request):
    w = Workers(tmp_path)
    yield w
    w.stop()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(f"\n----- worker output -----\n{w.output()[-20000:]}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def wait_for(predicate, timeout: float = 60, interval: float = 0.1, message: str = ""):
    """Poll ``predicate`` until it returns a truthy value; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {message or predicate}")
