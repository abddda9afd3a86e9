"""RQ worker classes for batch queues: ``BatchWorker`` (forks per job) and ``SimpleBatchWorker``.

Select one through django-rq, so ``manage.py rqworker batchjob`` stays the command::

    RQ = {"WORKER_CLASS": "django_batchqueue.worker.BatchWorker"}

On top of RQ's own workers they

- never let a work horse use a database connection it inherited (one killed inside a
  transaction would otherwise leave the next horse writing into that transaction, and those
  writes would be lost silently): the forking worker's parent claims each row and records each
  outcome on its own connection, and a horse that needs the database opens a new one;
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
import tempfile
import threading
import time
from typing import Any

from django.utils.module_loading import autodiscover_modules
from redis import Redis
from rq import SimpleWorker, Worker

from . import conf
from .execution import handoff

logger = logging.getLogger("django_batchqueue")

RECONCILE_LOCK = "batchqueue:reconcile-lock"


class BatchWorkerMixin:
    """What both batch worker classes add to RQ's workers."""

    job_monitoring_interval = 5

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("job_monitoring_interval", self.job_monitoring_interval)
        super().__init__(*args, **kwargs)
        self._heartbeat_stop = threading.Event()
        self._last_reconcile = 0.0

    # -- start-up -------------------------------------------------------------------------

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        from .storage import get_storage

        autodiscover_modules("jobs")
        get_storage().warm_up()
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
        super().heartbeat(  # type: ignore[misc]
            min(timeout or self.heartbeat_ttl, self.heartbeat_ttl), pipeline=pipeline
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


class BatchWorker(BatchWorkerMixin, Worker):
    """RQ's forking worker, made safe for database connections and quick to notice crashes.

    The parent claims each batch job's row and records its outcome on a connection it keeps
    open; the work horse only runs the job (see :mod:`~django_batchqueue.execution.handoff`).
    """

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        from .execution.queues import mark_parent_records

        super().bootstrap(*args, **kwargs)
        mark_parent_records(self.connection, self.key)
        # Lives as long as the worker; closed in teardown().
        self._outcome_file = tempfile.TemporaryFile(prefix="batchqueue-outcome-")  # noqa: SIM115

    def teardown(self) -> None:
        super().teardown()
        outcome_file = getattr(self, "_outcome_file", None)
        if outcome_file is not None:
            outcome_file.close()

    def execute_job(self, job: Any, queue: Any) -> None:
        outcome_file = getattr(self, "_outcome_file", None)
        current = None
        if outcome_file is not None:
            current = handoff.claim_for_horse(job, self.name, outcome_file.fileno())
        handoff.set_current(current)
        try:
            super().execute_job(job, queue)
        finally:
            handoff.set_current(None)
        if current is not None:
            self._record_outcome(job, current)

    def main_work_horse(self, job: Any, queue: Any) -> None:
        handoff.detach_inherited_connections()  # never use or close the parent's
        super().main_work_horse(job, queue)

    def _record_outcome(self, job: Any, current: handoff.Handoff) -> None:
        from .execution.recovery import record_lost_run

        outcome = current.outcome()
        try:
            if outcome is not None:
                current.record(outcome)
            else:  # a horse that exited without a word; a killed one is recorded already
                record_lost_run(
                    current.row.pk,
                    current.rq_job_id,
                    "WorkerLost: the work horse exited without reporting an outcome"
                    + _rq_failure_reason(job),
                )
        except Exception:
            logger.exception("batchqueue: could not record the run of %s", current.row.pk)

    def handle_work_horse_killed(self, job: Any, retpid: Any, ret_val: Any, rusage: Any) -> None:
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)
        current = handoff.current()
        if current is not None and current.outcome() is not None:
            return  # it reported before it died: the parent records that outcome next
        try:
            from .execution.recovery import record_lost_run

            record_lost_run(
                job.args[0] if job.args else None,
                job.id,
                f"WorkerLost: the work horse {_how_it_ended(ret_val)} while running the job",
            )
        except Exception:
            logger.warning("batchqueue: could not record a lost run of %s", job.id, exc_info=True)


def _how_it_ended(wait_status: int | None) -> str:
    """``was killed by signal 9`` or ``exited with code 1``, from a ``waitpid`` status."""
    import os

    if wait_status is None:
        return "ended"
    if os.WIFSIGNALED(wait_status):
        return f"was killed by signal {os.WTERMSIG(wait_status)}"
    if os.WIFEXITED(wait_status):
        return f"exited with code {os.WEXITSTATUS(wait_status)}"
    return f"ended (wait status {wait_status})"


def _rq_failure_reason(job: Any) -> str:
    """The last line of the exception RQ stored for ``job``, if it stored one."""
    try:
        result = job.latest_result()
        text = (getattr(result, "exc_string", None) or "").strip()
    except Exception:
        return ""
    return f" ({text.splitlines()[-1]})" if text else ""


class SimpleBatchWorker(BatchWorkerMixin, SimpleWorker):
    """RQ's non-forking worker with the same liveness and reconciliation."""
