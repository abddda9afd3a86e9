"""What a decision does once it is durable: the RQ jobs it starts and the signals it sends.

Every state machine in :mod:`django_batchqueue.execution` decides inside one unit of work of the
storage and collects its consequences in an :class:`Effects`. They happen only after the unit
commits (``Storage.on_commit``), signals first and then the RQ jobs, so a worker never picks up
an RQ job for a row whose ``queued`` status is not yet visible, and a rolled-back decision
starts nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from .. import signals as signals_module
from ..storage.base import Storage
from .queues import Enqueue, enqueue_now, new_rq_job_id


@dataclass
class Effects:
    """The consequences of one decision, released when its unit of work commits."""

    storage: Storage
    enqueues: list[Enqueue] = field(default_factory=list)
    signals: list[tuple[Any, str, dict[str, Any]]] = field(default_factory=list)
    #: Batches that reached an outcome, or whose callbacks or compensation moved on, in this
    #: decision: :mod:`.aftermath` carries each through what follows before the commit.
    ended: list[uuid.UUID] = field(default_factory=list)

    def enqueue(self, item: Enqueue) -> None:
        self.enqueues.append(item)

    def start(
        self,
        row_id: uuid.UUID,
        queue: str,
        timeout: int | None,
        *,
        job_of: uuid.UUID | None = None,
        meta: dict[str, Any] | None = None,
    ) -> bool:
        """pending -> queued, and enqueue its RQ job after the commit; False if it was not
        pending any more (someone else started or cancelled it first). ``job_of`` is the batch
        of a job (not of a callback or compensation run): it leaves that batch's waiting jobs."""
        rq_id = new_rq_job_id()
        if not self.storage.queue_pending(row_id, rq_id, batch_id=job_of, meta=meta):
            return False
        self.enqueues.append(Enqueue(str(row_id), rq_id, queue, timeout))
        return True

    def send(self, signal: Any, batch_id: uuid.UUID | str, **kwargs: Any) -> None:
        """Send ``signal`` (``sender=Batch``, ``batch_id``) once the decision is committed."""
        self.signals.append((signal, str(batch_id), kwargs))

    def release(self) -> None:
        """Register everything collected to happen when the current unit of work commits."""
        if not (self.enqueues or self.signals):
            return
        signals, enqueues = list(self.signals), list(self.enqueues)
        self.signals.clear()
        self.enqueues.clear()

        def run() -> None:
            for signal, batch_id, kwargs in signals:
                signals_module.send(signal, batch_id, **kwargs)
            if enqueues:
                enqueue_now(enqueues)

        self.storage.on_commit(run)
