"""What RQ really holds for a set of RQ jobs, as reconcile needs to know it.

A status field is what the last process to touch a job wrote, and a worker killed mid-step
leaves it behind: a job RQ moved to the queue's intermediate list still says ``queued``, and
one RQ marked ``started`` says so after its worker died. So each RQ job is judged from where it
is and who holds it: the queue list, the intermediate list, the job hash and the worker's
heartbeat key. A job between two places (popped from the queue, not yet started) is seen twice,
:data:`SECOND_LOOK` apart, before it is judged stranded.

Judging wrongly is never a double run (a row runs only for the RQ job id it records, and
reconcile moves a row to a new id only from the state and id it saw), but it is wasted work, so
the rules lean towards "still held".
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .queues import KEEPS_CURRENT_JOB_FIELD, PARENT_RECORDS_FIELD, get_queue

#: Seconds between the two looks at a job caught between the queue and a worker.
SECOND_LOOK = 1.0
#: Job hashes read per pipeline.
CHUNK = 1000


class Holding(enum.Enum):
    """Where an RQ job is, as far as running its row is concerned."""

    WAITING = "waiting"  # in the queue list, or scheduled / deferred: it will run
    HELD = "held"  # started by a worker that is alive (or popped by one a moment ago)
    STRANDED = "stranded"  # popped or started by a worker that is gone: it will never run
    ENDED = "ended"  # finished, failed, stopped or cancelled: it will not run again
    MISSING = "missing"  # Redis has no such job (lost with its data, or expired)

    @property
    def will_run(self) -> bool:
        return self in (Holding.WAITING, Holding.HELD)


_DONE = frozenset({"finished", "failed", "stopped", "canceled"})
_LATER = frozenset({"scheduled", "deferred"})


@dataclass(frozen=True)
class Worker:
    """A registered RQ worker (its heartbeat key is present)."""

    #: A ``BatchWorker`` parent: it records its horses' outcomes itself, after the RQ job ends.
    parent_records: bool
    #: The RQ job it says it runs now.
    current_job: str | None
    #: Whether ``current_job`` can be trusted: a batch worker keeps it true; RQ 3 never writes
    #: it, so a plain RQ 3 worker's hash says nothing about what it runs.
    keeps_current_job: bool = False

    def runs(self, rq_job_id: str) -> bool:
        """Whether the worker may be running ``rq_job_id`` (True when it cannot tell)."""
        if self.current_job is None and not self.keeps_current_job:
            return True
        return self.current_job == rq_job_id


@dataclass(frozen=True)
class Workers:
    """The RQ workers registered now, by name."""

    alive: dict[str, Worker]
    #: False right after Redis (re)started: workers have had no time to re-create their keys,
    #: so a missing key proves nothing yet.
    trustworthy: bool = True

    def gone(self, name: str) -> bool:
        return bool(name) and self.trustworthy and name not in self.alive


def workers(queue_name: str, names: Iterable[str], *, settle_seconds: float) -> Workers:
    """Which of ``names`` are alive on the queue's Redis (see :class:`Workers`)."""
    from rq import Worker as RQWorker

    wanted = sorted({n for n in names if n})
    conn = get_queue(queue_name).connection
    uptime = float(conn.info("server").get("uptime_in_seconds", 1e9))
    trustworthy = uptime >= settle_seconds
    if not wanted:
        return Workers({}, trustworthy)
    with conn.pipeline(transaction=False) as pipe:
        for name in wanted:
            key = RQWorker.redis_worker_namespace_prefix + name
            pipe.exists(key)
            pipe.hmget(key, PARENT_RECORDS_FIELD, "current_job", KEEPS_CURRENT_JOB_FIELD)
        flags = pipe.execute()
    alive = {
        name: Worker(
            bool(flags[2 * i + 1][0]), _text(flags[2 * i + 1][1]) or None, bool(flags[2 * i + 1][2])
        )
        for i, name in enumerate(wanted)
        if flags[2 * i]
    }
    return Workers(alive, trustworthy)


class QueueView:
    """The ids waiting in one queue's list, read once and reused for a whole reconcile pass.

    A job that leaves the list after the read is started by then (its status says so) or
    popped by a worker that died (caught by the next pass); a job added after the read is not
    one of the rows looked at.
    """

    def __init__(self, queue_name: str) -> None:
        self.queue_name = queue_name
        self._waiting: set[str] | None = None

    def waiting(self) -> set[str]:
        if self._waiting is None:
            queue = get_queue(self.queue_name)
            self._waiting = _members(queue.connection.lrange(queue.key, 0, -1))
        return self._waiting


def holdings(
    queue_name: str,
    rq_job_ids: Sequence[str],
    *,
    settle_seconds: float,
    view: QueueView | None = None,
) -> dict[str, Holding]:
    """Where each RQ job is. Raises Redis errors (the caller judges nothing then)."""
    if not rq_job_ids:
        return {}
    view = view or QueueView(queue_name)
    first = _look(queue_name, rq_job_ids, settle_seconds, view)
    unsure = [rq_id for rq_id, (holding, between) in first.items() if between]
    if unsure:
        time.sleep(SECOND_LOOK)
        # Fresh reads: the second look must see what changed since the first.
        second = _look(queue_name, unsure, settle_seconds, QueueView(queue_name))
        for rq_id in unsure:
            # Stranded only if both looks say so; anything that moved is still in hand.
            if second[rq_id][0] is not Holding.STRANDED:
                first[rq_id] = (Holding.HELD, False)
    return {rq_id: holding for rq_id, (holding, _) in first.items()}


def _look(
    queue_name: str, rq_job_ids: Sequence[str], settle_seconds: float, view: QueueView
) -> dict[str, tuple[Holding, bool]]:
    """One look: each job's holding, and whether it is caught between two places."""
    queue = get_queue(queue_name)
    conn = queue.connection
    fields: list[Any] = []
    for start in range(0, len(rq_job_ids), CHUNK):
        with conn.pipeline(transaction=False) as pipe:
            for rq_id in rq_job_ids[start : start + CHUNK]:
                pipe.hmget(queue.job_class.key_for(rq_id), "status", "worker_name")
            fields.extend(pipe.execute())
    states = {
        rq_id: (_text(status), _text(worker))
        for rq_id, (status, worker) in zip(rq_job_ids, fields, strict=True)
    }
    queued = {rq_id for rq_id, (status, _) in states.items() if status == "queued"}
    in_queue: set[str] = set()
    popped: set[str] = set()
    if queued:
        popped = _members(conn.lrange(queue.intermediate_queue_key, 0, -1)) & queued
        if queued - popped:
            in_queue = view.waiting() & queued
    starters = workers(
        queue_name,
        (w or "" for s, w in states.values() if s == "started"),
        settle_seconds=settle_seconds,
    )
    seen: dict[str, tuple[Holding, bool]] = {}
    for rq_id, (status, worker) in states.items():
        if status is None:
            seen[rq_id] = (Holding.MISSING, False)
        elif status in _DONE:
            seen[rq_id] = (Holding.ENDED, False)
        elif status in _LATER or rq_id in in_queue:
            seen[rq_id] = (Holding.WAITING, False)
        elif status == "started":
            # Started by a worker that is gone, or by a live one that says it runs another
            # job (or none): Redis restarted from a snapshot taken after RQ started the job
            # but before the row was claimed, say. Either way the job will never run.
            alive = starters.alive.get(worker or "")
            dead = starters.gone(worker or "") or (
                alive is not None and starters.trustworthy and not alive.runs(rq_id)
            )
            seen[rq_id] = (Holding.STRANDED, True) if dead else (Holding.HELD, False)
        else:
            # "queued" but popped (a live worker starts it within milliseconds) or in no list
            # at all (a worker died between the two steps, or Redis lost the list).
            seen[rq_id] = (Holding.STRANDED, True)
    return seen


def ended_before(queue_name: str, rq_job_ids: Sequence[str], cutoff: float) -> set[str]:
    """The RQ jobs that ended (finished, failed, stopped) before ``cutoff`` (a Unix time)."""
    from rq.utils import utcparse

    if not rq_job_ids:
        return set()
    queue = get_queue(queue_name)
    with queue.connection.pipeline(transaction=False) as pipe:
        for rq_id in rq_job_ids:
            pipe.hmget(queue.job_class.key_for(rq_id), "status", "ended_at")
        found = pipe.execute()
    ended = set()
    for rq_id, (status, ended_at) in zip(rq_job_ids, found, strict=True):
        text = _text(ended_at)
        if _text(status) in _DONE and text:
            try:
                if utcparse(text).timestamp() < cutoff:
                    ended.add(rq_id)
            except ValueError:
                continue
    return ended


def _members(values: Any) -> set[str]:
    return {v.decode() if isinstance(v, bytes) else str(v) for v in values}


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value
