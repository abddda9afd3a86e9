"""Callbacks: which runs an outcome creates, and the order they run in.

A batch's callbacks run one at a time, in the order they were created (their ``sequence``):
``on_job_failure`` runs as jobs fail for good, then the outcome's ``on_complete`` and
``on_failure`` callbacks, and last, once the outcome's other callbacks and compensations have
all finished, its ``on_finally`` callbacks. Each event may have several callbacks: they run in
the order they were added, and one that fails does not stop the others. Retries and timeouts of
a callback were resolved at dispatch and stored with it.
"""

from __future__ import annotations

import uuid
from typing import Any

from ..states import BatchStatus, CallbackEvent, JobKind
from ..storage.base import Storage
from ..storage.records import BatchRecord, NewRun
from .effects import Effects

#: Stored callback keys that are tuning, not args.
TUNING_KEYS = ("max_retries", "retry_delay", "timeout")


def specs(batch: BatchRecord, event: str) -> list[dict[str, Any]]:
    """The stored callbacks of ``event``, in the order they were added."""
    found = batch.callbacks.get(event) or []
    return [found] if isinstance(found, dict) else list(found)  # one spec: stored before lists


def runs_for(
    batch: BatchRecord,
    event: str,
    *,
    position: int,
    status: str,
    error: str | None = None,
    extra: dict[str, Any] | None = None,
) -> list[NewRun]:
    """A run of each of ``batch``'s ``event`` callbacks, with what the framework passes them."""
    meta = {"batch_id": str(batch.id), "status": status, "error": error, **(extra or {})}
    return [
        NewRun(
            batch_id=batch.id,
            kind=JobKind.CALLBACK,
            event=event,
            position=position,
            job_path=spec["path"],
            args=spec.get("args") or {},
            meta=dict(meta),
            **{k: spec[k] for k in TUNING_KEYS if k in spec},
        )
        for spec in specs(batch, event)
    ]


def on_job_failure(
    storage: Storage, batch: BatchRecord, row_id: uuid.UUID, position: int, error: str, fx: Effects
) -> None:
    """Queue the ``on_job_failure`` callbacks of a job that failed for good."""
    runs = runs_for(
        batch,
        CallbackEvent.ON_JOB_FAILURE,
        position=position,
        status="failed",
        error=error,
        extra={"job_id": str(row_id), "failed_job_position": position},
    )
    if runs:
        storage.insert_runs(runs)
        advance(storage, batch, fx)


def on_settled(storage: Storage, batch: BatchRecord, fx: Effects) -> None:
    """A batch completed: ``on_complete``, then ``on_failure`` if jobs failed (tolerant)."""
    runs = runs_for(batch, CallbackEvent.ON_COMPLETE, position=0, status="completed")
    if batch.failed_jobs:
        error = f"{batch.failed_jobs} of {batch.total_jobs} jobs failed"
        runs += runs_for(batch, CallbackEvent.ON_FAILURE, position=1, status="failed", error=error)
    if runs:
        storage.insert_runs(runs)


def on_failed(storage: Storage, batch: BatchRecord, error: str) -> None:
    """A batch failed: ``on_failure`` with the failing job's error."""
    runs = runs_for(batch, CallbackEvent.ON_FAILURE, position=0, status="failed", error=error)
    if runs:
        storage.insert_runs(runs)


def on_finally(storage: Storage, batch: BatchRecord) -> bool:
    """The outcome's other callbacks and compensations are done: ``on_finally`` with the final
    status (and the batch's error, ``None`` when it completed). Whether there were any."""
    error = None if batch.status == BatchStatus.COMPLETED else (batch.error or None)
    runs = runs_for(batch, CallbackEvent.ON_FINALLY, position=0, status=batch.status, error=error)
    if runs:
        storage.insert_runs(runs)
    return bool(runs)


def advance(storage: Storage, batch: BatchRecord, fx: Effects) -> bool:
    """Start the next waiting callback once none is queued or running.

    Returns whether a callback is running now (one was, or one started): the batch's callbacks
    are not done yet.
    """
    if storage.has_active(batch.id, JobKind.CALLBACK):
        return True
    nxt = storage.first_pending(batch.id, JobKind.CALLBACK)
    return nxt is not None and fx.start(nxt.id, batch.queue, nxt.timeout)
