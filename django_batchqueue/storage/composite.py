"""Verbs a backend can build from its other verbs: a chain step's ending and hand-off.

:meth:`~.base.Storage.complete_member` and :meth:`~.base.Storage.queue_next_step` exist so that
a backend able to do each in one round trip can (SQL storage on PostgreSQL,
:mod:`.sql.hotpath`); the others compose them here, in the caller's unit of work.
"""

from __future__ import annotations

import uuid
from typing import Any

from ..states import MEMBER_KINDS, JobKind, JobStatus
from .base import Storage
from .records import BatchRecord, JobRecord, NextStep


def complete_member(
    storage: Storage, row: JobRecord, result: Any, context: dict[str, Any] | None = None
) -> BatchRecord | None:
    if not storage.finish(row, JobStatus.COMPLETED, result=result, counted=True, context=context):
        return None
    return storage.get_batch(row.batch_id)


def queue_next_step(
    storage: Storage, batch_id: uuid.UUID, rq_job_id: str, meta: dict[str, Any]
) -> NextStep:
    nxt = storage.first_pending(batch_id, MEMBER_KINDS)
    if nxt is None:
        return NextStep()
    if nxt.kind != JobKind.JOB:
        return NextStep(nxt.id, nxt.kind)
    queued = storage.queue_pending(nxt.id, rq_job_id, batch_id=batch_id, meta=meta)
    return NextStep(nxt.id, nxt.kind, queued, nxt.timeout)


class ComposedSteps:
    """Both verbs from the backend's own primitives (mixed into the backend class)."""

    def complete_member(
        self, row: JobRecord, result: Any, context: dict[str, Any] | None = None
    ) -> BatchRecord | None:
        return complete_member(self, row, result, context)  # type: ignore[arg-type]

    def queue_next_step(
        self,
        batch_id: uuid.UUID,
        rq_job_id: str,
        meta: dict[str, Any],
        *,
        durable: bool = True,
    ) -> NextStep:
        return queue_next_step(self, batch_id, rq_job_id, meta)  # type: ignore[arg-type]
