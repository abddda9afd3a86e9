"""The batch workers' heartbeat: a short-lived RQ worker key, kept alive by a thread.

RQ extends a worker's key by minutes and only while its loop runs; a batch worker's key
expires ``WORKER_HEARTBEAT_TTL`` seconds after the worker dies, so reconcile notices a killed
worker within seconds. If the key vanished while the worker lived (Redis restarted, empty or
from an older snapshot), the thread writes it again, with the job the worker runs and whether
its parent records outcomes, and registers the worker again: a live worker is never taken for
a dead one once its Redis is back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from redis import Redis
from rq import worker_registration
from rq.utils import now, utcformat

from .execution.queues import PARENT_RECORDS_FIELD


class Heartbeat:
    """Refreshes (or re-creates) one worker's RQ key every ``ttl / 3`` seconds."""

    def __init__(self, worker: Any, ttl: int, parent_records: bool) -> None:
        self.worker = worker
        self.ttl = ttl
        self.parent_records = parent_records
        #: The RQ job the worker runs now, as the worker last said (read by the thread).
        self.current_job: str | None = None
        self._stop = threading.Event()
        pool = worker.connection.connection_pool
        # Its own client and pool: no lock is shared with the thread that forks.
        self._conn = Redis(
            connection_pool=type(pool)(
                connection_class=pool.connection_class, **pool.connection_kwargs
            )
        )

    def start(self) -> None:
        threading.Thread(target=self._run, name="batchqueue-heartbeat", daemon=True).start()

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
            if self._conn.expire(self.worker.key, self.ttl):
                return False
            if stopped():
                return False
            self._recreate()
            return True
        except Exception:
            return False

    def _recreate(self) -> None:
        worker = self.worker
        worker.last_heartbeat = now()
        fields = dict(worker.serialize())
        fields["state"] = "busy" if self.current_job else "idle"
        if self.current_job:
            fields["current_job"] = self.current_job
        if self.parent_records:
            fields[PARENT_RECORDS_FIELD] = "1"
        fields["last_heartbeat"] = utcformat(worker.last_heartbeat)
        with self._conn.pipeline() as pipe:
            pipe.hset(worker.key, mapping=fields)
            pipe.expire(worker.key, self.ttl)
            worker_registration.register(worker, pipe)
            pipe.execute()
