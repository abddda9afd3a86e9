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
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from .. import conf
from ..states import JobStatus
from ..storage import get_storage
from ..storage.records import JobRecord
from . import aftermath, outcomes, rqstate
from .queues import Enqueue, default_timeout, enqueue_now, new_rq_job_id, promote_due_scheduled

logger = logging.getLogger(__name__)

#: Called between steps of a pass, so a lock held for the pass can be extended.
KeepAlive = Callable[[], None]


@dataclass
class ReconcileReport:
    orphaned_runs: int = 0
    reenqueued: int = 0
    promoted_retries: int = 0
    stalled_batches: int = 0
    #: Rows looked at (queued and running ones quiet for longer than the grace period).
    examined: int = 0
    details: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return self.orphaned_runs + self.reenqueued + self.promoted_retries + self.stalled_batches


def reconcile(
    *,
    grace_seconds: float | None = None,
    limit: int | None = None,
    keep_alive: KeepAlive | None = None,
) -> ReconcileReport:
    """Run every repair once; returns what was done.

    Every quiet row is looked at, ``limit`` (``RECONCILE_LIMIT``) rows per step, so rows that
    need repair are found however many healthy ones came before them. ``keep_alive`` runs
    after each step (the workers extend their reconcile lock with it).
    """
    grace = float(conf.get("RECONCILE_GRACE") if grace_seconds is None else grace_seconds)
    page = max(1, int(conf.get("RECONCILE_LIMIT") if limit is None else limit))
    alive = keep_alive or (lambda: None)
    report = ReconcileReport()
    cutoff = timezone.now() - timedelta(seconds=grace)
    settle = float(conf.get("WORKER_HEARTBEAT_TTL"))
    for group in _pages(JobStatus.RUNNING, cutoff, page, report):
        for queue, rows in group.items():
            _safely(_orphaned_runs, report, queue, rows, settle, grace)
        alive()
    views: dict[str, rqstate.QueueView] = {}
    for group in _pages(JobStatus.QUEUED, cutoff, page, report):
        for queue, rows in group.items():
            view = views.setdefault(queue, rqstate.QueueView(queue))
            _safely(_lost_enqueues, report, queue, rows, settle, view)
        alive()
    queues = get_storage().open_queues()
    report.promoted_retries = sum(_safely(promote_due_scheduled, [q]) or 0 for q in queues)
    _stalled_batches(report, cutoff, page)
    forget = getattr(get_storage(), "forget_expired", None)  # Redis storage: expired trees
    if forget is not None:
        _safely(forget)
    return report


def _safely(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception:
        # Redis unreachable, typically: nothing can be judged now, the next pass tries again.
        logger.warning("batchqueue reconcile: %s failed", fn.__name__, exc_info=True)
        return None


def _pages(
    status: str, cutoff: datetime, page: int, report: ReconcileReport
) -> Iterator[dict[str, list[JobRecord]]]:
    """Every row in ``status`` quiet since before ``cutoff``, oldest first, ``page`` at a time,
    grouped by their batch's queue."""
    storage = get_storage()
    after: tuple[datetime, uuid.UUID] | None = None
    while True:
        rows = storage.stale_rows(status, cutoff, page, after=after)
        report.examined += len(rows)
        by_queue: dict[str, list[JobRecord]] = defaultdict(list)
        for row in rows:
            by_queue[row.loaded_batch.queue].append(row)
        if by_queue:
            yield by_queue
        if len(rows) < page:
            return
        last = rows[-1]
        since = last.enqueued_at if status == JobStatus.QUEUED else last.started_at
        assert since is not None
        after = (since, last.pk)


def _orphaned_runs(
    report: ReconcileReport, queue: str, group: list[JobRecord], settle: float, quiet: float
) -> None:
    seen = rqstate.workers(queue, [r.worker_name for r in group], settle_seconds=settle)
    # Where RQ holds the job of a row with no worker named, or whose worker cannot say what it
    # runs (a plain RQ 3 worker never writes ``current_job``).
    asked = [
        r.rq_job_id
        for r in group
        if not r.worker_name
        or (
            (w := seen.alive.get(r.worker_name)) is not None
            and not w.parent_records
            and not w.keeps_current_job
        )
    ]
    holdings = rqstate.holdings(queue, asked, settle_seconds=settle) if asked else {}
    # A living BatchWorker's parent records a run just after its horse (and the RQ job) ended;
    # one whose RQ job ended longer ago than the grace period (and two heartbeat periods) was
    # never going to be recorded (the parent lost its database while recording, say).
    parents = [
        r.rq_job_id
        for r in group
        if (w := seen.alive.get(r.worker_name)) is not None
        and w.parent_records
        and not w.runs(r.rq_job_id)
    ]
    unrecorded = max(quiet, 2 * settle)
    long_ended = rqstate.ended_before(queue, parents, timezone.now().timestamp() - unrecorded)
    grace = float(conf.get("TIMEOUT_GRACE"))
    now = timezone.now()
    for row in group:
        worker = seen.alive.get(row.worker_name)
        why = None
        if seen.gone(row.worker_name):
            why = f"worker {row.worker_name} died while running the job"
        elif not row.worker_name:
            holding = holdings.get(row.rq_job_id, rqstate.Holding.MISSING)
            if not holding.will_run:
                why = f"its RQ job {_said(holding)} without recording an outcome"
        elif (
            worker is not None
            and seen.trustworthy
            and not worker.parent_records
            and not worker.runs(row.rq_job_id)
        ):
            # A worker that runs jobs in its own process records the outcome before RQ moves
            # on; one that has moved on to another job (or to none) will never record this.
            why = f"worker {row.worker_name} moved on without recording an outcome"
        elif (
            seen.trustworthy and row.rq_job_id in holdings and not holdings[row.rq_job_id].will_run
        ):
            # Right after Redis restarted, a running job's RQ hash may be gone while its
            # horse still runs: only a settled Redis says the worker moved on.
            why = f"its RQ job {_said(holdings[row.rq_job_id])} and worker {row.worker_name} "
            why += "moved on without recording an outcome"
        elif row.rq_job_id in long_ended:
            why = f"its RQ job ended over {int(unrecorded)}s ago and worker {row.worker_name} "
            why += "did not record an outcome"
        # Otherwise a living BatchWorker's parent records the outcome itself, just after its
        # work horse (and with it the RQ job) ended: only the time limit applies to it.
        limit_s = (row.timeout or default_timeout(queue)) + grace + 60
        ran = (now - row.started_at).total_seconds() if row.started_at else 0.0
        if why is None and ran > limit_s:
            why = f"it ran {int(ran)}s, past its limit"
        if why is None:
            continue
        outcomes.run_failed(row, f"WorkerLost: {why}")
        report.orphaned_runs += 1
        report.details.append(f"job {row.pk} (batch {row.batch_id}): {why}")


def _said(holding: rqstate.Holding) -> str:
    return "vanished" if holding is rqstate.Holding.MISSING else "ended"


def _lost_enqueues(
    report: ReconcileReport,
    queue: str,
    group: list[JobRecord],
    settle: float,
    view: rqstate.QueueView,
) -> None:
    holdings = rqstate.holdings(
        queue, [r.rq_job_id for r in group], settle_seconds=settle, view=view
    )
    lost = [r for r in group if not holdings[r.rq_job_id].will_run]
    if not lost:
        return
    fresh = {r.pk: new_rq_job_id() for r in lost}
    moved = get_storage().reassign_rq_jobs([(r.pk, r.rq_job_id, fresh[r.pk]) for r in lost])
    items = []
    for row in lost:
        if row.pk not in moved:
            continue  # claimed, cancelled or repaired meanwhile
        items.append(Enqueue(str(row.pk), fresh[row.pk], queue, row.timeout))
        report.details.append(
            f"job {row.pk} (batch {row.batch_id}): re-enqueued, its RQ job was "
            f"{holdings[row.rq_job_id].value}"
        )
    if items:
        enqueue_now(items)
        report.reenqueued += len(items)


def _stalled_batches(report: ReconcileReport, cutoff: datetime, limit: int) -> None:
    storage = get_storage()
    for batch_id in storage.stalled_batches(cutoff, limit):
        if aftermath.nudge(storage, batch_id):
            report.stalled_batches += 1
            report.details.append(f"batch {batch_id}: moved on")
