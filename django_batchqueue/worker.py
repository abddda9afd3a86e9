"""RQ worker classes for batch queues: ``PersistentBatchWorker`` (one work horse for many jobs,
recommended), ``BatchWorker`` (forks per job) and ``SimpleBatchWorker`` (no fork).

Select one through django-rq, so ``manage.py rqworker batchjob`` stays the command::

    RQ = {"WORKER_CLASS": "django_batchqueue.worker.PersistentBatchWorker"}

On top of RQ's own workers they

- never let a work horse use a database connection it inherited (one killed inside a
  transaction would otherwise leave the next horse writing into that transaction, and those
  writes would be lost silently): the forking worker's parent claims each row and records each
  outcome on its own connection, and a horse that needs the database opens a new one;
- record the outcome of a work horse that died (killed, out of memory, past its timeout) at once,
  as a failed attempt that is retried by the job's policy;
- keep their RQ heartbeat key short-lived (``WORKER_HEARTBEAT_TTL``, refreshed by a thread that
  also re-creates it after a Redis restart), so a worker killed outright is noticed within
  seconds instead of RQ's minutes, and a live one is never taken for dead; the thread's beats
  replace RQ's own between jobs (two Redis round trips per job);
- ride out Redis outages: they wait for Redis and carry on instead of quitting, and the outcome
  of a job that ran meanwhile is still recorded (see :mod:`~django_batchqueue.outages`);
- put the database connections back in a known state after every job, so a job that leaves a
  transaction open cannot wedge the worker (:mod:`~django_batchqueue.execution.dbstate`);
- run :func:`~django_batchqueue.execution.reconcile.reconcile` every ``RECONCILE_INTERVAL``
  seconds (one worker at a time), which also promotes due delayed retries when no RQ scheduler
  runs;
- import every installed app's ``jobs`` module and build the hot path's cached statements once
  at start-up, so forked horses do not.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

from django.utils.module_loading import autodiscover_modules
from rq import SimpleWorker, Worker

from . import conf, supervisor
from .execution import handoff
from .execution.queues import RUNNER
from .liveness import Heartbeat
from .outages import REDIS_ERRORS, die_with_parent, wait_for_redis
from .supervisor import how_it_ended

logger = logging.getLogger(__name__)

RECONCILE_LOCK = "batchqueue:reconcile-lock"


class BatchWorkerMixin:
    """What both batch worker classes add to RQ's workers."""

    job_monitoring_interval = 5
    #: Whether the worker's parent records its jobs' outcomes (the forking worker).
    parent_records = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("job_monitoring_interval", self.job_monitoring_interval)
        while True:
            try:
                super().__init__(*args, **kwargs)  # RQ names its Redis client: needs Redis
                break
            except REDIS_ERRORS:
                connection = kwargs.get("connection")
                if connection is None:
                    raise
                wait_for_redis(connection.ping, kwargs.get("name") or "(new)", "starting", _never)
        self._heartbeat: Heartbeat | None = None
        self._last_reconcile = 0.0

    # -- start-up -------------------------------------------------------------------------

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        from .storage import get_storage

        autodiscover_modules("jobs")
        get_storage().warm_up()
        while True:
            try:
                super().bootstrap(*args, **kwargs)  # type: ignore[misc]
                break
            except REDIS_ERRORS:
                if not self._wait_for_redis("starting"):
                    raise
        self._heartbeat = Heartbeat(self, self.heartbeat_ttl, self.parent_records)
        self._heartbeat.start()

    def teardown(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.stop()
        try:
            super().teardown()  # type: ignore[misc]
        except REDIS_ERRORS:
            logger.warning(
                "batchqueue: worker %s could not unregister (Redis away)",
                self.name,  # type: ignore[attr-defined]
            )

    # -- Redis outages ----------------------------------------------------------------------

    def _wait_for_redis(self, doing: str) -> bool:
        return wait_for_redis(
            self.connection.ping,  # type: ignore[attr-defined]
            self.name,  # type: ignore[attr-defined]
            doing,
            lambda: bool(getattr(self, "_stop_requested", False)),
        )

    def _until_redis(self, doing: str, step: Callable[[], Any]) -> Any:
        """``step()``, again each time Redis is back after an error; :data:`_GAVE_UP` if a
        stop was requested while waiting."""
        while True:
            try:
                return step()
            except REDIS_ERRORS:
                if not self._wait_for_redis(doing):
                    return _GAVE_UP

    def check_for_suspension(self, burst: bool) -> None:
        parent: Any = super()
        self._until_redis("checking for suspension", lambda: parent.check_for_suspension(burst))

    def dequeue_job_and_maintain_ttl(self, *args: Any, **kwargs: Any) -> Any:
        # RQ retries its dequeue on Redis errors, but not the state update before it.
        parent: Any = super()
        found = self._until_redis(
            "waiting for a job", lambda: parent.dequeue_job_and_maintain_ttl(*args, **kwargs)
        )
        return None if found is _GAVE_UP else found

    def execute_job(self, job: Any, queue: Any) -> None:
        if self._heartbeat is not None:
            self._heartbeat.running(job.id)
        try:
            self._execute_job(job, queue)
        except REDIS_ERRORS:
            # The job ran (or never started); its outcome is in the database either way.
            self._wait_for_redis(f"finishing job {job.id}")
        finally:
            if self._heartbeat is not None:
                self._heartbeat.running(None)

    def _execute_job(self, job: Any, queue: Any) -> None:
        super().execute_job(job, queue)  # type: ignore[misc]

    # -- liveness -------------------------------------------------------------------------

    @property
    def heartbeat_ttl(self) -> int:
        return max(3, int(conf.get("WORKER_HEARTBEAT_TTL")))

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        # RQ extends the key by minutes; ours expires in seconds unless the thread refreshes it.
        if pipeline is not None and self._heartbeat is not None:
            # As a job starts (RQ's preparation pipeline): say which one, at no extra cost.
            self._heartbeat.write_current_job(pipeline)
        elif self._heartbeat is not None and self._heartbeat.keeps_key_alive:
            # RQ beats on its own before every dequeue and after every job: two round trips
            # per job that the thread's beats make redundant.
            return
        try:
            super().heartbeat(  # type: ignore[misc]
                min(timeout or self.heartbeat_ttl, self.heartbeat_ttl), pipeline=pipeline
            )
        except REDIS_ERRORS:
            if pipeline is not None:
                raise
            # Redis away: the next step of the loop waits for it; the thread re-creates the key.

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
        try:
            if super().should_run_maintenance_tasks:  # type: ignore[misc]
                super().run_maintenance_tasks()  # type: ignore[misc]
        except REDIS_ERRORS:
            logger.warning("batchqueue: RQ's maintenance skipped (Redis away)")
        if self._reconcile_due():
            self._last_reconcile = time.monotonic()
            self.reconcile_now()

    def reconcile_now(self) -> None:
        from .execution.queues import get_queue, try_lock
        from .execution.reconcile import reconcile

        interval = max(2, int(conf.get("RECONCILE_INTERVAL")))
        queue = conf.get("DEFAULT_QUEUE")
        try:
            if not try_lock(queue, RECONCILE_LOCK, interval - 1):
                return  # another worker reconciles this round
            conn = get_queue(queue).connection
            report = reconcile(keep_alive=lambda: conn.expire(RECONCILE_LOCK, interval - 1))
            if report.changed:
                logger.warning("batchqueue reconcile: %s", "; ".join(report.details))
        except Exception:
            logger.warning("batchqueue reconcile failed", exc_info=True)


class BatchWorker(BatchWorkerMixin, Worker):
    """RQ's forking worker, made safe for database connections and quick to notice crashes.

    The parent claims each batch job's row and records its outcome on a connection it keeps
    open; the work horse only runs the job (see :mod:`~django_batchqueue.execution.handoff`),
    and dies with its parent.
    """

    parent_records = True

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

    def _execute_job(self, job: Any, queue: Any) -> None:
        outcome_file = getattr(self, "_outcome_file", None)
        current = None
        if outcome_file is not None:
            current = handoff.claim_for_horse(job, self.name, outcome_file.fileno())
        handoff.set_current(current)
        self._forked = False
        try:
            super()._execute_job(job, queue)
        except REDIS_ERRORS:
            # Redis went away while the horse ran (or before it started): let the horse end,
            # then record what it reported, whatever happened to Redis meanwhile.
            self._wait_for_horse()
            if current is not None:
                self._record_outcome(job, current, started=self._forked)
            raise
        finally:
            handoff.set_current(None)
        if current is not None:
            self._record_outcome(job, current)

    def fork_work_horse(self, job: Any, queue: Any) -> None:
        self._forked = True
        super().fork_work_horse(job, queue)

    def _wait_for_horse(self) -> None:
        pid = getattr(self, "_horse_pid", 0)
        while pid:
            try:
                os.waitpid(pid, 0)
            except InterruptedError:
                continue
            except ChildProcessError:
                pass
            break
        self._horse_pid = 0

    def main_work_horse(self, job: Any, queue: Any) -> None:
        die_with_parent()
        handoff.detach_inherited_connections()  # never use or close the parent's
        super().main_work_horse(job, queue)

    def _record_outcome(self, job: Any, current: handoff.Handoff, started: bool = True) -> None:
        from .execution.recovery import record_lost_run

        outcome = current.outcome()
        try:
            if outcome is not None:
                current.record(outcome)
            elif not started:
                record_lost_run(
                    current.row.pk,
                    current.rq_job_id,
                    "WorkerLost: Redis became unreachable before the job could start",
                )
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
                f"WorkerLost: the work horse {how_it_ended(ret_val)} while running the job",
            )
        except Exception:
            logger.warning("batchqueue: could not record a lost run of %s", job.id, exc_info=True)


def _never() -> bool:
    return False


#: What :meth:`BatchWorkerMixin._until_redis` returns when a stop was requested meanwhile.
_GAVE_UP = object()


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


class PersistentBatchWorker(SimpleBatchWorker):
    """A work horse forked once and fed many jobs, watched by its parent.

    Crash isolation like :class:`BatchWorker` (a job that kills its process, leaks memory or
    hangs past its timeout costs one attempt and one horse, never the worker) without a fork
    per job: the horse runs :class:`SimpleBatchWorker`'s loop for ``HORSE_MAX_JOBS`` jobs, then
    a new one takes over, like Celery's prefork pool with ``max_tasks_per_child``. See
    :mod:`~django_batchqueue.supervisor`.
    """

    def work(self, burst: bool = False, **kwargs: Any) -> bool:  # type: ignore[override]
        from .execution.recovery import record_lost_run

        base = self.name
        max_jobs = kwargs.pop("max_jobs", None)
        per_round = int(conf.get("HORSE_MAX_JOBS"))

        def run_horse(reports: supervisor.Reports) -> int:
            die_with_parent()
            self.name = f"{base}.{watch.horses}"
            self._reports = reports
            self._jobs_done = 0
            limit = per_round if max_jobs is None else min(per_round, int(max_jobs))
            super(PersistentBatchWorker, self).work(burst, max_jobs=limit, **kwargs)
            if max_jobs is not None or self._stop_requested:
                return supervisor.STOPPED
            if self._jobs_done >= limit:
                return supervisor.ROUND_DONE
            return supervisor.STOPPED  # burst: the queues are empty

        def record_lost(running: supervisor.Running, error: str) -> None:
            record_lost_run(running.row_id, running.rq_job_id, error)

        watch = supervisor.Supervisor(run_horse, record_lost, base)
        watch.run()
        return True

    def execute_job(self, job: Any, queue: Any) -> None:
        reports: supervisor.Reports | None = getattr(self, "_reports", None)
        if reports is not None:
            row_id = job.args[0] if job.func_name == RUNNER and job.args else None
            grace = float(conf.get("TIMEOUT_GRACE"))
            reports.begin(row_id, job.id, supervisor.deadline_seconds(job, grace))
        try:
            super().execute_job(job, queue)
        finally:
            self._jobs_done = getattr(self, "_jobs_done", 0) + 1
            if reports is not None:
                reports.end()
