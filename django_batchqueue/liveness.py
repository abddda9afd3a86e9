"""The batch workers' heartbeat: a short-lived RQ worker key, kept alive by a thread.

RQ extends a worker's key by minutes and only while its loop runs; a batch worker's key
expires ``WORKER_HEARTBEAT_TTL`` seconds after the worker dies, so reconcile notices a killed
worker within seconds. If the key vanished while the worker lived (Redis restarted, empty or
from an older snapshot), the thread writes it again, with the job the worker runs and whether
its parent records outcomes, and registers the worker again: a live worker is never taken for
a dead one once its Redis is back.

The key's ``current_job`` field says which RQ job the worker runs, for reconcile to tell a
worker that still runs a row's job from one that moved on without recording it. RQ 3 no longer
writes that field (RQ 2 does), so the worker owns it: it is written in the pipeline RQ sends as
a job starts (no extra round trip), and each beat writes it again from what the worker says, so
a value left behind (a clearing lost when Redis restarted from an older snapshot, a job that
ended) is corrected within ``ttl / 3`` seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import worker_registration
from rq.utils import now, utcformat

from .execution.queues import KEEPS_CURRENT_JOB_FIELD, PARENT_RECORDS_FIELD

# Extend the worker's key and write the fields it owns, in one step; a vanished key is left
# alone (a field written to it would re-create it half-empty) and 0 returned.
_REFRESH = """
if redis.call('expire', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('hset', KEYS[1], ARGV[4], '1')
if ARGV[2] == '' then
  redis.call('hdel', KEYS[1], 'current_job')
else
  redis.call('hset', KEYS[1], 'current_job', ARGV[2])
end
if ARGV[3] ~= '' then redis.call('hset', KEYS[1], ARGV[3], '1') end
redis.call('hset', KEYS[1], 'last_heartbeat', ARGV[5])
if KEYS[2] then redis.call('expire', KEYS[2], ARGV[1]) end
return 1
"""


class Heartbeat:
    """Refreshes (or re-creates) one worker's RQ key every ``ttl / 3`` seconds."""

    def __init__(self, worker: Any, ttl: int, parent_records: bool) -> None:
        self.worker = worker
        self.ttl = ttl
        self.parent_records = parent_records
        self._current_job: str | None = None
        # Held while the thread writes the field, so a write of an older value can never land
        # after the worker's own write of a newer one (see :meth:`running`).
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._started = False
        #: ``time.monotonic()`` of the last beat that reached Redis.
        self._last_beat = float("-inf")
        pool = worker.connection.connection_pool
        # Its own client and pool: no lock is shared with the thread that forks. Its calls time
        # out (a beat's interval at most) and are not retried (the next beat is the retry), so
        # a half-open socket or an unreachable Redis can never hold ``_lock`` and with it the
        # worker's :meth:`running` for longer than that.
        limit = max(1.0, ttl / 3)
        kwargs = dict(pool.connection_kwargs)
        kwargs["socket_timeout"] = min(kwargs.get("socket_timeout") or limit, limit)
        kwargs["socket_connect_timeout"] = min(kwargs.get("socket_connect_timeout") or limit, limit)
        kwargs["retry"] = Retry(NoBackoff(), 0)
        self._conn = Redis(
            connection_pool=type(pool)(connection_class=pool.connection_class, **kwargs)
        )
        self._script = self._conn.register_script(_REFRESH)

    @property
    def current_job(self) -> str | None:
        """The RQ job the worker runs now, as the worker last said."""
        return self._current_job

    def running(self, rq_job_id: str | None) -> None:
        """The worker starts ``rq_job_id`` (or, with None, has ended its job). Call it before
        the job's start is written to Redis: the thread's writes after this carry the new
        value, and one already under way finishes first."""
        with self._lock:
            self._current_job = rq_job_id

    def write_current_job(self, pipeline: Any) -> None:
        """Add the ``current_job`` field's value to ``pipeline`` (RQ's, as a job starts)."""
        if self._current_job:
            pipeline.hset(
                self.worker.key,
                mapping={"current_job": self._current_job, KEEPS_CURRENT_JOB_FIELD: "1"},
            )

    def start(self) -> None:
        # The first beat now: RQ registered the key with its own minutes-long TTL.
        self.beat()
        threading.Thread(target=self._run, name="batchqueue-heartbeat", daemon=True).start()
        self._started = True

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        interval = max(1.0, self.ttl / 3)
        while not self._stop.wait(interval):
            self.beat(lambda: self._stop.is_set())

    def beat(self, stopped: Callable[[], bool] = lambda: False) -> bool:
        """One refresh; True if the key had to be written again. Redis errors are ignored
        (the next beat tries again)."""
        try:
            with self._lock:
                if self._refresh():
                    self._last_beat = time.monotonic()
                    return False
                if stopped():
                    return False
                self._recreate()
                return True
        except Exception:
            return False

    @property
    def keeps_key_alive(self) -> bool:
        """Whether the thread runs and its last beat reached Redis within two intervals: RQ's
        own heartbeats between jobs are then redundant (each beat extends the key and the
        worker's executions key and writes ``last_heartbeat``)."""
        recent = time.monotonic() - self._last_beat < 2 * max(1.0, self.ttl / 3)
        return self._started and not self._stop.is_set() and recent

    def _refresh(self) -> bool:
        """Extend the key and write the fields the worker owns; False if the key was gone."""
        worker = self.worker
        keys = [worker.key]
        executions_key = getattr(worker, "executions_key", None)  # RQ >= 2.0's
        if executions_key:
            keys.append(executions_key)
        return bool(
            self._script(
                keys=keys,
                args=[
                    self.ttl,
                    self._current_job or "",
                    PARENT_RECORDS_FIELD if self.parent_records else "",
                    KEEPS_CURRENT_JOB_FIELD,
                    utcformat(now()),
                ],
            )
        )

    def _recreate(self) -> None:
        worker = self.worker
        worker.last_heartbeat = now()
        fields = dict(worker.serialize())
        fields["state"] = "busy" if self.current_job else "idle"
        if self.current_job:
            fields["current_job"] = self.current_job
        if self.parent_records:
            fields[PARENT_RECORDS_FIELD] = "1"
        fields[KEEPS_CURRENT_JOB_FIELD] = "1"
        fields["last_heartbeat"] = utcformat(worker.last_heartbeat)
        with self._conn.pipeline() as pipe:
            pipe.hset(worker.key, mapping=fields)
            pipe.expire(worker.key, self.ttl)
            worker_registration.register(worker, pipe)
            pipe.execute()
        self._last_beat = time.monotonic()
