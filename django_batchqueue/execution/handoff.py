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
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from django.db import connections

from ..exceptions import BatchQueueError
from ..jobs import resolve
from ..models import BatchJob
from ..states import BatchStatus, JobKind
from ..storage import get_storage
from . import orchestration
from .queues import RUNNER

logger = logging.getLogger("django_batchqueue")

#: The hand-off of the job the parent is about to fork for; the horse inherits it.
_current: Handoff | None = None
#: Connections a horse inherited and must neither use nor close (closing would end the
#: parent's session); kept referenced until the horse exits.
_inherited: list[Any] = []


@dataclass
class Handoff:
    """A row claimed by the parent for one RQ job, and where the horse reports its outcome."""

    row: BatchJob
    rq_job_id: str
    outcome_fd: int
    parent_pid: int = field(default_factory=os.getpid)

    # -- in the horse -----------------------------------------------------------------------

    def report(self, outcome: dict[str, Any]) -> None:
        """Write the run's outcome for the parent (called once, in the horse)."""
        data = json.dumps(outcome, separators=(",", ":")).encode()
        os.ftruncate(self.outcome_fd, 0)
        written = 0
        while written < len(data):
            written += os.pwrite(self.outcome_fd, data[written:], written)

    def succeeded(self, result: Any, context: dict[str, Any] | None) -> None:
        self.report({"ok": True, "result": result, "context": context})

    def failed(self, error: str, trace: str = "", permanent: bool = False) -> None:
        self.report({"ok": False, "error": error, "trace": trace, "permanent": permanent})

    # -- in the parent ----------------------------------------------------------------------

    def outcome(self) -> dict[str, Any] | None:
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
            return json.loads(data)
        except ValueError:
            logger.warning("batchqueue: unreadable outcome from the horse of %s", self.row.pk)
            return None

    def record(self, outcome: dict[str, Any]) -> None:
        """Record the horse's outcome, as the horse itself would have (called in the parent)."""
        from .runner import with_db_retry

        row = self.row
        if outcome["ok"]:
            with_db_retry(
                lambda: orchestration.run_succeeded(row, outcome["result"], outcome["context"])
            )
        else:
            with_db_retry(
                lambda: orchestration.run_failed(
                    row, outcome["error"], outcome["trace"], permanent=outcome["permanent"]
                )
            )


def claim_for_horse(rq_job: Any, worker: str, outcome_fd: int) -> Handoff | None:
    """In the parent, before forking: claim the row RQ job ``rq_job`` runs, if it is ours.

    Returns None when the horse should do everything itself: not a batch job, a row that is
    not (or no longer) queued for this RQ job, or any error (the horse then meets it again
    and handles it as usual).
    """
    if getattr(rq_job, "func_name", None) != RUNNER or not rq_job.args:
        return None
    from .runner import parse_row_id, with_db_retry

    row_id = parse_row_id(rq_job.args[0])
    if row_id is None:
        return None
    storage = get_storage()
    try:
        row = with_db_retry(lambda: storage.claim_and_load(row_id, rq_job.id, worker))
        if row is None:
            return None
        if row.kind == JobKind.JOB and row.batch.status == BatchStatus.PENDING:
            with_db_retry(lambda: storage.mark_started(row.batch_id))
    except Exception:
        logger.warning("batchqueue: could not claim %s before forking", row_id, exc_info=True)
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
