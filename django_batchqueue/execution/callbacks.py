"""Callbacks: which runs an outcome creates, and the order they run in.

``on_job_failure`` runs start as soon as they are created; the batch's ``on_complete`` and then
``on_failure`` wait until no earlier callback is queued or running, so they run in the order the
contract gives even with many workers. Retries and timeouts of a callback were resolved at
dispatch and stored with it.
"""

from __future__ import annotations

import uuid
from typing import Any

from ..states import CallbackEvent, JobKind
from ..storage.base import Storage
from ..storage.records import BatchRecord, NewRun
from .effects import Effects

#: Stored callback keys that are tuning, not args.
TUNING_KEYS = ("max_retries", "retry_delay", "timeout")


def has(batch: BatchRecord, event: str) -> bool:
    return event in batch.callbacks


def run_for(
    batch: BatchRecord,
    event: str,
    *,
    position: int,
    error: str | None = None,
    extra: dict[str, Any] | None = None,
) -> NewRun:
    """The run of ``batch``'s ``event`` callback, with what the framework passes it."""
    spec = batch.callbacks[event]
    failed = event != CallbackEvent.ON_COMPLETE
    meta = {
        "batch_id": str(batch.id),
        "status": "failed" if failed else "completed",
        "error": error,
        **(extra or {}),
    }
    tuning = {k: spec[k] for k in TUNING_KEYS if k in spec}
    return NewRun(
        batch_id=batch.id,
        kind=JobKind.CALLBACK,
        event=event,
        position=position,
        job_path=spec["path"],
        args=spec.get("args") or {},
        meta=meta,
        **tuning,
    )


def on_job_failure(
    storage: Storage, batch: BatchRecord, row_id: uuid.UUID, position: int, error: str, fx: Effects
) -> None:
    """Start the ``on_job_failure`` callback of a job that failed for good, if there is one."""
    if not has(batch, CallbackEvent.ON_JOB_FAILURE):
        return
    run = run_for(
        batch,
        CallbackEvent.ON_JOB_FAILURE,
        position=position,
        error=error,
        extra={"job_id": str(row_id), "failed_job_position": position},
    )
    storage.insert_runs([run])
    fx.start(run.id, batch.queue, run.timeout)


def on_settled(storage: Storage, batch: BatchRecord, fx: Effects) -> None:
    """A batch completed: ``on_complete``, then ``on_failure`` if jobs failed (tolerant)."""
    runs = []
    if has(batch, CallbackEvent.ON_COMPLETE):
        runs.append(run_for(batch, CallbackEvent.ON_COMPLETE, position=0))
    if batch.failed_jobs and has(batch, CallbackEvent.ON_FAILURE):
        error = f"{batch.failed_jobs} of {batch.total_jobs} jobs failed"
        runs.append(run_for(batch, CallbackEvent.ON_FAILURE, position=1, error=error))
    if runs:
        storage.insert_runs(runs)
        advance(storage, batch, fx)


def on_failed(storage: Storage, batch: BatchRecord, error: str, fx: Effects) -> None:
    """A batch failed: ``on_failure`` with the failing job's error."""
    if has(batch, CallbackEvent.ON_FAILURE):
        storage.insert_runs([run_for(batch, CallbackEvent.ON_FAILURE, position=0, error=error)])
        advance(storage, batch, fx)


def advance(storage: Storage, batch: BatchRecord, fx: Effects) -> bool:
    """Start the next waiting callback once none is queued or running; whether one started."""
    if storage.has_active(batch.id, JobKind.CALLBACK):
        return False
    nxt = storage.first_pending(batch.id, JobKind.CALLBACK)
    return nxt is not None and fx.start(nxt.id, batch.queue, nxt.timeout)
