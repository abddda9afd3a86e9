"""Faults of the chaos run: a Redis server of its own, a pool of worker processes that is kept at
full strength, and the faults injected into both (every one recorded with the pids it killed).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

KILLS = ("kill-worker", "kill-horse", "kill-group")
REDIS = ("redis-empty", "redis-aof")
PG = ("pg-terminate",)
ALL_FAULTS = KILLS + REDIS + PG
#: application_name of the workers' PostgreSQL connections (libpq reads PGAPPNAME), so
#: pg-terminate ends theirs and no one else's.
WORKER_APPNAME = "batchqueue-chaos-worker"


def parse_faults(text: str) -> tuple[str, ...]:
    """``all``, ``none`` or a comma-separated list of fault kinds (``kill`` = the three kills,
    ``redis`` = both Redis restarts)."""
    kinds: list[str] = []
    for word in filter(None, (w.strip() for w in text.split(","))):
        if word == "all":
            kinds += ALL_FAULTS
        elif word == "kill":
            kinds += KILLS
        elif word == "redis":
            kinds += REDIS
        elif word in ALL_FAULTS:
            kinds.append(word)
        elif word != "none":
            raise ValueError(f"unknown fault kind {word!r}; choose from {', '.join(ALL_FAULTS)}")
    return tuple(dict.fromkeys(kinds))


@dataclass
class Fault:
    """One injected fault: when (``t``, and ``t_end`` once its effect is over), what, whom."""

    t: float
    kind: str
    pids: list[int] = field(default_factory=list)
    detail: str = ""
    t_end: float = 0.0
    #: Numbers (``CHAOS_WORKER``) of the workers whose main process this fault killed.
    workers: list[int] = field(default_factory=list)


# ------------------------------------------------------------------------------------ Redis


class RedisServer:
    """A redis-server of the run's own, with an AOF, to kill -9 and restart empty or from it."""

    def __init__(
        self,
        port: int,
        directory: Path,
        binary: str = "/usr/bin/redis-server",
        appendfsync: str = "everysec",
    ) -> None:
        self.port = port
        self.dir = directory
        self.binary = binary
        #: ``always`` when batch state lives in this Redis (Redis storage): what docs/storage.md
        #: promises loses nothing acknowledged; ``everysec`` loses up to a second of writes.
        self.appendfsync = appendfsync
        self.url = f"redis://127.0.0.1:{port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        log = (self.dir.parent / f"redis-{self.port}.log").open("ab")
        cmd = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir)]
        cmd += ["--appendonly", "yes", "--appendfsync", self.appendfsync, "--save", ""]
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        from redis import Redis

        client = Redis.from_url(self.url)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                return
            except Exception:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on port {self.port} did not start") from None
                time.sleep(0.05)

    def kill(self) -> int | None:
        """kill -9; returns the pid killed."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        pid = self.proc.pid
        self.proc.kill()
        self.proc.wait()
        return pid

    def wipe(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def stop(self) -> None:
        self.kill()


def port_is_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


# ---------------------------------------------------------------------------------- workers


def children(pid: int) -> list[int]:
    """Child processes of ``pid`` (a forking worker's work horse)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def descendants(pid: int) -> list[int]:
    """Children, grandchildren, ... of ``pid``."""
    found, todo = [], children(pid)
    while todo:
        child = todo.pop()
        found.append(child)
        todo += children(child)
    return found


class WorkerPool:
    """``size`` worker processes, each started by ``spawn(extra_env)`` in a session of its own
    and numbered (``CHAOS_WORKER`` in its environment); dead ones are replaced at once, and
    those that quit on their own are counted."""

    def __init__(self, spawn: Callable[[dict[str, str]], subprocess.Popen[Any]], size: int) -> None:
        from bench.chaos_jobs import WORKER_ENV

        self.spawn = spawn
        self.env_name = WORKER_ENV
        self.size = size
        self.procs: list[subprocess.Popen[Any]] = []
        self.retired: list[subprocess.Popen[Any]] = []
        self.number: dict[int, int] = {}  # pid -> worker number
        self.killed: set[int] = set()
        self.orphans: set[int] = set()  # horses left running by a killed parent
        #: Workers that exited although nothing killed them: (t seen, pid, exit code, number).
        self.quit_on_their_own: list[tuple[float, int, int | None, int]] = []
        self.started = 0

    def start(self) -> None:
        while len(self.procs) < self.size:
            self.started += 1
            proc = self.spawn({self.env_name: str(self.started)})
            self.number[proc.pid] = self.started
            self.procs.append(proc)

    def replace(self, proc: subprocess.Popen[Any]) -> None:
        proc.wait()
        self.procs.remove(proc)
        self.retired.append(proc)
        self.start()

    def supervise(self) -> None:
        """Replace every worker that has exited."""
        for proc in list(self.procs):
            code = proc.poll()
            if code is None:
                continue
            if proc.pid not in self.killed:
                number = self.number.get(proc.pid, 0)
                self.quit_on_their_own.append((time.time(), proc.pid, code, number))
            self.replace(proc)

    def stop(self) -> None:
        from bench.stress import stop_workers

        stop_workers(self.procs)
        for pid in self.orphans:  # horses of killed parents, if any still runs
            _sigkill(pid)


# ----------------------------------------------------------------------------------- faults


@dataclass
class Schedule:
    """How often each kind of fault strikes, in seconds (only the enabled kinds)."""

    kill_every: float = 3.0
    redis_every: float = 45.0
    redis_down: float = 3.0
    pg_every: float = 10.0
    warm_up: float = 5.0


class Injector:
    """Injects the enabled faults on a schedule, from a thread, and supervises the pool."""

    def __init__(
        self,
        kinds: tuple[str, ...],
        pool: WorkerPool,
        redis: RedisServer | None,
        schedule: Schedule,
        log_path: Path,
        rng: random.Random,
        terminate_pg: Callable[[], list[int]] | None,
    ) -> None:
        self.kinds = kinds
        self.pool = pool
        self.redis = redis
        self.schedule = schedule
        self.log_path = log_path
        self.rng = rng
        self.terminate_pg = terminate_pg
        self.faults: list[Fault] = []
        self.skipped: Counter[str] = Counter()
        self.injecting = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="chaos-faults", daemon=True)
        self._redis_turn = 0
        self._busy = threading.Lock()  # held while a fault is injected

    # -- control ----------------------------------------------------------------------------

    def start(self) -> None:
        self.injecting.set()
        self._thread.start()

    def stop_faults(self) -> None:
        self.injecting.clear()

    def wait_idle(self) -> None:
        """Wait for a fault still in progress (a Redis restart) to end."""
        with self._busy:
            pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def last_fault_end(self) -> float | None:
        return max((f.t_end or f.t for f in self.faults), default=None)

    def counts(self) -> Counter[str]:
        return Counter(f.kind for f in self.faults)

    # -- the loop ---------------------------------------------------------------------------

    def _loop(self) -> None:
        s = self.schedule
        start = time.monotonic()
        due = {
            "kill": start + s.warm_up,
            "redis": start + s.warm_up + s.redis_every / 2,
            "pg": start + s.warm_up + s.pg_every / 2,
        }
        kills = [k for k in self.kinds if k in KILLS]
        redis = [k for k in self.kinds if k in REDIS]
        try:
            while not self._stop.wait(0.2):
                self.pool.supervise()
                now = time.monotonic()
                with self._busy:
                    if self.injecting.is_set():
                        self._strike(now, due, kills, redis)
        finally:
            from django.db import connections

            connections.close_all()

    def _strike(
        self, now: float, due: dict[str, float], kills: list[str], redis: list[str]
    ) -> None:
        """Inject every fault that is due now."""
        s = self.schedule
        if kills and now >= due["kill"]:
            due["kill"] = now + s.kill_every * self.rng.uniform(0.5, 1.5)
            self._kill(self.rng.choice(kills))
        if redis and self.redis is not None and now >= due["redis"]:
            due["redis"] = now + s.redis_every * self.rng.uniform(0.8, 1.2)
            self._restart_redis(redis[self._redis_turn % len(redis)])
            self._redis_turn += 1
        if "pg-terminate" in self.kinds and self.terminate_pg and now >= due["pg"]:
            due["pg"] = now + s.pg_every * self.rng.uniform(0.5, 1.5)
            self._pg_terminate()

    def _record(self, fault: Fault) -> None:
        if not fault.t_end:
            fault.t_end = time.time()
        self.faults.append(fault)
        with self.log_path.open("a") as f:
            f.write(json.dumps(asdict(fault)) + "\n")

    def _kill(self, kind: str) -> None:
        procs = [p for p in self.pool.procs if p.poll() is None]
        if kind == "kill-horse":
            busy = [(p, children(p.pid)) for p in procs]
            busy = [(p, kids) for p, kids in busy if kids]
            if not busy:
                self.skipped[kind] += 1  # no horse running now (or a non-forking worker)
                return
            proc, kids = self.rng.choice(busy)
            t = time.time()
            for pid in kids:
                _sigkill(pid)
            self._record(Fault(t, kind, kids, f"horse(s) {kids} of worker {proc.pid}"))
            return
        if not procs:
            self.skipped[kind] += 1
            return
        proc = self.rng.choice(procs)
        number = [self.pool.number.get(proc.pid, 0)]
        t = time.time()
        self.pool.killed.add(proc.pid)
        if kind == "kill-group":
            # RQ's horse runs in a process group of its own: kill the worker's group and
            # every descendant's, all at once.
            below = descendants(proc.pid)
            for pgid in [proc.pid, *below]:
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except OSError:
                    _sigkill(pgid)
            detail = f"worker {proc.pid} and its horse(s) {below}"
            self._record(Fault(t, kind, [proc.pid, *below], detail, workers=number))
        else:
            horses = children(proc.pid)
            self.pool.orphans.update(horses)
            _sigkill(proc.pid)
            detail = f"worker {proc.pid}, its horse(s) {horses} left running"
            self._record(Fault(t, kind, [proc.pid], detail, workers=number))
        self.pool.replace(proc)

    def _restart_redis(self, kind: str) -> None:
        assert self.redis is not None
        t = time.time()
        pid = self.redis.kill()
        time.sleep(self.schedule.redis_down)
        if kind == "redis-empty":
            self.redis.wipe()
        self.redis.start()
        detail = f"down {self.schedule.redis_down:.0f}s, restarted " + (
            "empty" if kind == "redis-empty" else "from its AOF"
        )
        self._record(Fault(t, kind, [pid] if pid else [], detail, t_end=time.time()))

    def _pg_terminate(self) -> None:
        assert self.terminate_pg is not None
        t = time.time()
        try:
            backends = self.terminate_pg()
        except Exception as exc:
            self.skipped["pg-terminate"] += 1
            print(f"    pg-terminate failed: {exc}")
            return
        self._record(Fault(t, "pg-terminate", [], f"backends {backends}"))


def _sigkill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def terminate_worker_backends() -> list[int]:
    """pg_terminate_backend of the workers' connections to this database (and no others)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s "
            "AND pid <> pg_backend_pid()",
            [WORKER_APPNAME],
        )
        return [int(pid) for pid, _ in cursor.fetchall()]
