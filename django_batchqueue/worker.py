"""RQ worker classes for batch queues: ``BatchWorker`` (forks per job) and ``SimpleBatchWorker``.

Select one through django-rq, so ``manage.py rqworker batchjob`` stays the command::

    RQ = {"WORKER_CLASS": "django_batchqueue.worker.BatchWorker"}

On top of RQ's own workers they

- close every database connection before forking a work horse, so a horse never inherits a
  connection (one killed inside a transaction would otherwise leave the next horse writing into
  that transaction, and those writes would be lost silently);
- record the outcome of a work horse that died (killed, out of memory, past its timeout) at once,
  as a failed attempt that is retried by the job's policy;
- keep their RQ heartbeat key short-lived (``WORKER_HEARTBEAT_TTL``, refreshed by a thread), so
  a worker killed outright is noticed within seconds instead of RQ's minutes;
- run :func:`~django_batchqueue.execution.reconcile.reconcile` every ``RECONCILE_INTERVAL``
  seconds (one worker at a time), which also promotes due delayed retries when no RQ scheduler
  runs;
- import every installed app's ``jobs`` module and build the hot path's cached statements once
  at start-up, so forked horses do not.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.db import connections
from django.utils.module_loading import autodiscover_modules
from redis import Redis
from rq import SimpleWorker, Worker

from . import conf

logger = logging.getLogger("django_batchqueue")

RECONCILE_LOCK = "batchqueue:reconcile-lock"


def close_db_connections() -> None:
    """Close this process's database connections (a forked child must not share them)."""
    for conn in connections.all(initialized_only=True):
        conn.close()


class BatchWorkerMixin:
    """What both batch worker classes add to RQ's workers."""

    job_monitoring_interval = 5

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("job_monitoring_interval", self.job_monitoring_interval)
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        self._heartbeat_stop = threading.Event()
        self._last_reconcile = 0.0

    # -- start-up -------------------------------------------------------------------------

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        from .storage.hotpath import warm_up

        autodiscover_modules("jobs")
        warm_up()
        super().bootstrap(*args, **kwargs)  # type: ignore[misc]
        self._start_heartbeat_thread()

    def teardown(self) -> None:
        self._heartbeat_stop.set()
        super().teardown()  # type: ignore[misc]

    # -- liveness -------------------------------------------------------------------------

    @property
    def heartbeat_ttl(self) -> int:
        return max(3, int(conf.get("WORKER_HEARTBEAT_TTL")))

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        # RQ extends the key by minutes; ours expires in seconds unless the thread refreshes it.
        super().heartbeat(
            min(timeout or self.heartbeat_ttl, self.heartbeat_ttl),  # type: ignore[misc]
            pipeline=pipeline,
        )

    def _start_heartbeat_thread(self) -> None:
        # Its own Redis client and pool: no lock is shared with the thread that forks.
        pool = self.connection.connection_pool  # type: ignore[attr-defined]
        conn = Redis(
            connection_pool=type(pool)(
                connection_class=pool.connection_class, **pool.connection_kwargs
            )
        )
        key, ttl = self.key, self.heartbeat_ttl  # type: ignore[attr-defined]
        interval = max(1.0, ttl / 3)
        stop = self._heartbeat_stop

        def beat() -> None:
            while not stop.wait(interval):
                try:
                    conn.expire(key, ttl)
                except Exception:  # Redis away: RQ's own loop reports it
                    pass

        threading.Thread(target=beat, name="batchqueue-heartbeat", daemon=True).start()

    # -- periodic reconciliation ----------------------------------------------------------

    @property
    def dequeue_timeout(self) -> int:
        # Wake up while idle often enough to reconcile on time.
        return max(1, int(conf.get("RECONCILE_INTERVAL")))

    def _reconcile_due(self) -> bool:
        return time.monotonic() - self._last_reconcile >= float(conf.get("RECONCILE_INTERVAL"))

    @property
    def should_run_maintenance_tasks(self) -> bool:
        return super().should_run_maintenance_tasks or self._reconcile_due()  # type: ignore[misc]

    def run_maintenance_tasks(self) -> None:
        if super().should_run_maintenance_tasks:  # type: ignore[misc]
            super().run_maintenance_tasks()  # type: ignore[misc]
        if self._reconcile_due():
            self._last_reconcile = time.monotonic()
            self.reconcile_now()

    def reconcile_now(self) -> None:
        from .execution.queues import try_lock
        from .execution.reconcile import reconcile

        interval = int(conf.get("RECONCILE_INTERVAL"))
        try:
            if not try_lock(conf.get("DEFAULT_QUEUE"), RECONCILE_LOCK, max(1, interval - 1)):
                return  # another worker reconciles this round
            report = reconcile()
            if report.changed:
                logger.warning("batchqueue reconcile: %s", "; ".join(report.details))
        except Exception:
            logger.warning("batchqueue reconcile failed", exc_info=True)
        finally:
            self._after_parent_db_use()

    def _after_parent_db_use(self) -> None:
        """Hook: the forking worker closes connections the parent opened."""


class BatchWorker(BatchWorkerMixin, Worker):
    """RQ's forking worker, made safe for database connections and quick to notice crashes."""

    def execute_job(self, job: Any, queue: Any) -> None:
        close_db_connections()  # never fork with an open connection
        super().execute_job(job, queue)

    def _after_parent_db_use(self) -> None:
        close_db_connections()

    def handle_work_horse_killed(self, job: Any, retpid: Any, ret_val: Any, rusage: Any) -> None:
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)
        import os

        signal_no = os.WTERMSIG(ret_val) if ret_val and os.WIFSIGNALED(ret_val) else None
        how = f"killed by signal {signal_no}" if signal_no else f"exited with status {ret_val}"
        try:
            from .execution.recovery import record_lost_run

            record_lost_run(
                job.args[0] if job.args else None,
                job.id,
                f"WorkerLost: the work horse was {how} while running the job",
            )
        except Exception:
            logger.warning("batchqueue: could not record a lost run of %s", job.id, exc_info=True)
        finally:
            close_db_connections()


class SimpleBatchWorker(BatchWorkerMixin, SimpleWorker):
    """RQ's non-forking worker with the same liveness and reconciliation."""
