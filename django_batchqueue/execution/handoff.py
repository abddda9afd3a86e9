"""Hand-off between a forking worker and its work horse: the parent keeps the bookkeeping.

RQ's forking worker starts a new process (a work horse) for every job. A horse that touches the
database opens a fresh connection for every job, and on PostgreSQL a fresh connection means a
new server backend with cold caches: together several times the cost of the two statements a
run needs. So :class:`~django_batchqueue.worker.BatchWorker` claims the row in the parent, on a
connection that stays open, before it forks; the horse inherits the loaded row, runs the job and
writes the outcome (result and context, or the error) to a file the parent reads once the horse
has exited; the parent records it. The horse opens a database connection only if the job's own
code uses the database. The horse never uses the parent's connection: it drops its inherited
copy without closing it (:func:`detach_inherited_connections`).

If the horse dies before it reports, the parent records a lost run, as it did before.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from django.db import connections

from ..exceptions import BatchQueueError
from ..registry import resolve
from . import recording
from .queues import RUNNER
from .recording import Outcome

logger = logging.getLogger(__name__)

#: The hand-off of the job the parent is about to fork for; the horse inherits it.
_current: Handoff | None = None
#: Connections a horse inherited and must neither use nor close (closing would end the
#: parent's session); kept referenced until the horse exits.
_inherited: list[Any] = []


@dataclass
class Handoff:
    """A row claimed by the parent for one RQ job, and where the horse reports its outcome."""

    row: Any
    rq_job_id: str
    outcome_fd: int
    parent_pid: int = field(default_factory=os.getpid)

    # -- in the horse -----------------------------------------------------------------------

    def report(self, outcome: Outcome) -> None:
        """Write the run's outcome for the parent (called once, in the horse).

        Encoded as storage encodes results (Django's JSON encoder), so Decimals, datetimes and
        UUIDs arrive as the strings the database would hold.
        """
        data = outcome.encode()
        os.ftruncate(self.outcome_fd, 0)
        written = 0
        while written < len(data):
            written += os.pwrite(self.outcome_fd, data[written:], written)

    # -- in the parent ----------------------------------------------------------------------

    def outcome(self) -> Outcome | None:
        """What the horse reported, or None if it reported nothing (it died first)."""
        size = os.fstat(self.outcome_fd).st_size
        if not size:
            return None
        data = b""
        while len(data) < size:
            chunk = os.pread(self.outcome_fd, size - len(data), len(data))
            if not chunk:
                break
            data += chunk
        try:
            return Outcome.decode(data)
        except (ValueError, TypeError) as exc:
            # Only a horse killed mid-write leaves a partial report: say so on the row.
            return Outcome.failure(f"WorkerLost: the work horse left an unreadable outcome ({exc})")

    def record(self, outcome: Outcome) -> None:
        """Record the horse's outcome, as the horse itself would have (called in the parent)."""
        recording.record(self.row, outcome)


def claim_for_horse(rq_job: Any, worker: str, outcome_fd: int) -> Handoff | None:
    """In the parent, before forking: claim the row RQ job ``rq_job`` runs, if it is ours.

    Returns None when the horse should do everything itself: not a batch job, a row that is
    not (or no longer) queued for this RQ job, or any error (the horse then meets it again
    and handles it as usual).
    """
    if getattr(rq_job, "func_name", None) != RUNNER or not rq_job.args:
        return None
    row_id = recording.parse_row_id(rq_job.args[0])
    if row_id is None:
        return None
    try:
        row = recording.claim(row_id, rq_job.id, worker)
    except Exception:
        logger.warning("batchqueue: could not claim %s before forking", row_id, exc_info=True)
        return None
    if row is None:
        return None
    with contextlib.suppress(BatchQueueError):
        resolve(row.job_path)  # warms the cache the horse inherits; the horse reports errors
    os.ftruncate(outcome_fd, 0)
    return Handoff(row=row, rq_job_id=rq_job.id, outcome_fd=outcome_fd)


def set_current(handoff: Handoff | None) -> None:
    global _current
    _current = handoff


def current() -> Handoff | None:
    """The hand-off of the job being run now (in the parent, while its horse runs)."""
    return _current


def for_horse(row_id: str) -> Handoff | None:
    """In the horse: the row the parent claimed for this run, if it did."""
    handoff = _current
    if handoff is None or handoff.parent_pid == os.getpid() or str(handoff.row.pk) != row_id:
        return None
    return handoff


def detach_inherited_connections() -> None:
    """In a freshly forked horse: forget the parent's database connections without closing them.

    Closing would end the parent's server session; using them would interleave with the
    parent. Django opens new connections if the job's code needs the database.
    """
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            _inherited.append(conn.connection)
            conn.connection = None
