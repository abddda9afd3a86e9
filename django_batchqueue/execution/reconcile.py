"""Repair what crashes and outages leave behind. Safe to run at any time, repeatedly, anywhere.

Every repair goes through the same conditional UPDATEs as normal work (a row moves only from
the state it was seen in, for the RQ job it was seen with), so a reconcile racing with a live
worker changes nothing that worker is still doing.

- **Orphaned runs**: rows ``running`` whose worker is gone (its RQ heartbeat key expired), whose
  RQ job already ended or vanished (unless a living ``BatchWorker``, whose parent records
  outcomes after the RQ job ends, runs it), or that ran far past their timeout. Each is
  recorded as a failed attempt, so it is retried or failed for good by its retry policy.
- **Lost enqueues**: rows ``queued`` for longer than the grace period whose RQ job does not
  exist or already ended (Redis was down at enqueue time, lost its data, or a claim failed on a
  database outage). They get a fresh RQ job.
- **Due delayed retries** on queues that no RQ scheduler serves.
- **Stalled batches**: open batches whose jobs are all finished but which did not settle, chains
  with no active step, and callbacks or compensations waiting with nothing running.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.utils import timezone

from .. import conf
from ..states import JobStatus
from ..storage import get_storage
from ..storage.records import JobRecord
from . import aftermath, outcomes
from .queues import (
    RQ_DONE_STATUSES,
    Enqueue,
    default_timeout,
    enqueue_now,
    live_workers,
    new_rq_job_id,
    promote_due_scheduled,
    rq_job_statuses,
)

logger = logging.getLogger("django_batchqueue")


@dataclass
class ReconcileReport:
    orphaned_runs: int = 0
    reenqueued: int = 0
    promoted_retries: int = 0
    stalled_batches: int = 0
    details: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return self.orphaned_runs + self.reenqueued + self.promoted_retries + self.stalled_batches


def reconcile(*, grace_seconds: float | None = None, limit: int | None = None) -> ReconcileReport:
    """Run every repair once; returns what was done."""
    grace = float(conf.get("RECONCILE_GRACE") if grace_seconds is None else grace_seconds)
    limit = int(conf.get("RECONCILE_LIMIT") if limit is None else limit)
    report = ReconcileReport()
    cutoff = timezone.now() - timedelta(seconds=grace)
    _orphaned_runs(report, cutoff, limit)
    _lost_enqueues(report, cutoff, limit)
    queues = get_storage().open_queues()
    report.promoted_retries = sum(_safely(promote_due_scheduled, [q]) or 0 for q in queues)
    _stalled_batches(report, cutoff, limit)
    return report


def _safely(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception:
        logger.warning("batchqueue reconcile: %s failed", fn.__name__, exc_info=True)
        return None


def _rows_by_queue(status: str, cutoff: Any, limit: int) -> dict[str, list[JobRecord]]:
    """The oldest ``limit`` rows in ``status`` since before ``cutoff``, by their batch's queue."""
    by_queue: dict[str, list[JobRecord]] = defaultdict(list)
    for row in get_storage().stale_rows(status, cutoff, limit):
        by_queue[row.loaded_batch.queue].append(row)
    return by_queue


def _orphaned_runs(report: ReconcileReport, cutoff: Any, limit: int) -> None:
    by_queue = _rows_by_queue(JobStatus.RUNNING, cutoff, limit)
    grace = float(conf.get("TIMEOUT_GRACE"))
    now = timezone.now()
    for queue, group in by_queue.items():
        workers = sorted({r.worker_name for r in group if r.worker_name})
        alive = _safely(live_workers, queue, workers)
        states = _safely(rq_job_statuses, queue, [r.rq_job_id for r in group])
        if alive is None or states is None:
            continue  # Redis unreachable: nothing can be judged now
        for row in group:
            limit_s = (row.timeout or default_timeout(queue)) + grace + 60
            why = None
            if row.worker_name and row.worker_name not in alive:
                why = f"worker {row.worker_name} died while running the job"
            elif alive.get(row.worker_name):
                # A living BatchWorker's parent records the outcome itself, just after its
                # work horse (and with it the RQ job) ended; only the time limit applies.
                pass
            elif states.get(row.rq_job_id) is None:
                why = "its RQ job vanished while the job was running"
            elif states[row.rq_job_id] in RQ_DONE_STATUSES:
                why = f"its RQ job ended ({states[row.rq_job_id]}) without recording an outcome"
            ran = (now - row.started_at).total_seconds() if row.started_at else 0.0
            if why is None and ran > limit_s:
                why = f"it ran {int(ran)}s, past its limit"
            if why is None:
                continue
            outcomes.run_failed(row, f"WorkerLost: {why}")
            report.orphaned_runs += 1
            report.details.append(f"job {row.pk} (batch {row.batch_id}): {why}")


def _lost_enqueues(report: ReconcileReport, cutoff: Any, limit: int) -> None:
    by_queue = _rows_by_queue(JobStatus.QUEUED, cutoff, limit)
    storage = get_storage()
    for queue, group in by_queue.items():
        states = _safely(rq_job_statuses, queue, [r.rq_job_id for r in group])
        if states is None:
            continue
        items = []
        for row in group:
            state = states.get(row.rq_job_id)
            if state is not None and state not in RQ_DONE_STATUSES:
                continue  # queued, scheduled, started or deferred: RQ still has it
            new_id = new_rq_job_id()
            if storage.reassign_rq_job(row.pk, row.rq_job_id, new_id):
                items.append(Enqueue(str(row.pk), new_id, queue, row.timeout))
                report.details.append(
                    f"job {row.pk} (batch {row.batch_id}): re-enqueued, "
                    f"its RQ job was {state or 'missing'}"
                )
        if items:
            enqueue_now(items)
            report.reenqueued += len(items)


def _stalled_batches(report: ReconcileReport, cutoff: Any, limit: int) -> None:
    storage = get_storage()
    for batch_id in storage.stalled_batches(cutoff, limit):
        if aftermath.nudge(storage, batch_id):
            report.stalled_batches += 1
            report.details.append(f"batch {batch_id}: moved on")
