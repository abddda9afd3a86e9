"""Waiting for a chaos run to settle, and evidence on the rows that took too long.

Rows still open ``settle_limit`` seconds after the last fault are recorded with where RQ has
their RQ job at that moment (queue, intermediate list, started registry, its stored status),
then reported with how they finally ended: what a reconcile pass missed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench import chaos_reads
from bench.chaos_verdict import Verdict
from bench.chaos_workload import Workload


@dataclass
class Late:
    """A row still open at the settle limit."""

    row: str
    batch: str
    kind: str
    status: str
    rq_job_id: str
    worker: str
    where: str


def wait_settled(
    workload: Workload,
    *,
    timeout: float,
    limit_at: float,
    late: list[Late],
    say: Callable[..., None],
) -> float | None:
    """Wait until no batch of the workload is open and none of its rows is pending, queued or
    running; return when (or None on timeout). Rows open at ``limit_at`` go to ``late``."""
    from django.db import connections

    deadline = time.time() + timeout
    next_report = time.time() + 30
    snapshot_taken = False
    while time.time() < deadline:
        try:
            open_batches = workload.open_ids()
            n_busy, busy = workload.tracker.busy_rows(list(workload.batches))
            if n_busy and not snapshot_taken and time.time() >= limit_at:
                snapshot_taken = True
                late += _snapshot(busy)
        except Exception:
            connections.close_all()
            time.sleep(1)
            continue
        if not open_batches and not n_busy:
            try:
                n_busy, busy = workload.tracker.busy_rows(list(workload.batches), fresh=True)
            except Exception:
                connections.close_all()
                continue
            if not n_busy:
                return time.time()
        if time.time() >= next_report:
            next_report += 30
            say(f"  settling: {len(open_batches)} batches open, {n_busy} rows not finished")
        time.sleep(0.5)
    return None


def _snapshot(rows: list[Any]) -> list[Late]:
    try:
        where = rq_whereabouts([r.rq_job_id for r in rows if r.rq_job_id])
    except Exception as exc:
        where = {r.rq_job_id: f"unknown ({exc})" for r in rows}
    return [
        Late(
            str(r.pk),
            str(r.batch_id),
            r.kind,
            r.status,
            r.rq_job_id,
            r.worker_name,
            where.get(r.rq_job_id, "no RQ job id"),
        )
        for r in rows
    ]


def rq_whereabouts(rq_job_ids: list[str]) -> dict[str, str]:
    """For each RQ job: its stored status and the RQ lists and registries holding it."""
    from rq.job import Job

    from django_batchqueue.execution.queues import get_queue

    queue = get_queue("batchjob")
    redis = queue.connection
    queued = {x.decode() for x in redis.lrange(queue.key, 0, -1)}
    intermediate = {x.decode() for x in redis.lrange(queue.intermediate_queue_key, 0, -1)}
    started = {x.split(":")[0] for x in queue.started_job_registry.get_job_ids(cleanup=False)}
    found: dict[str, str] = {}
    for job_id in rq_job_ids:
        try:
            stored = Job.fetch(job_id, connection=redis).get_status(refresh=False)
            status = str(getattr(stored, "value", stored))
        except Exception:
            status = "missing"
        places = [
            name
            for name, ids in (
                ("queue", queued),
                ("intermediate list", intermediate),
                ("started registry", started),
            )
            if job_id in ids
        ]
        found[job_id] = f"status {status}, in {', '.join(places) or 'no RQ list or registry'}"
    return found


def report_late(verdict: Verdict, late: list[Late], limit: float, t_last: float) -> None:
    """One violation per late row, with how it finally ended."""
    for x in late:
        row = chaos_reads.row(x.row)
        ended = "row gone"
        if row is not None:
            when = f"+{row.finished_at.timestamp() - t_last:.0f}s" if row.finished_at else "never"
            ended = (
                f"{row.loaded_batch.name}: ended {row.status} at {when} after the last fault, "
                f"attempts {row.attempts}, error {row.error!r:.120}"
            )
        verdict.add(
            "slow to settle",
            f"row {x.row} ({x.kind}) still {x.status} {limit:.0f}s after the last fault; "
            f"its RQ job {x.rq_job_id or '-'}: {x.where}; worker {x.worker or '-'}; {ended}",
        )
