"""Helpers for testing code that dispatches batches.

:func:`drain` runs queued RQ jobs in the calling process against the real Redis configured in
``RQ_QUEUES``, so tests exercise the same code path as workers without starting any.
:func:`in_memory` swaps storage and RQ for in-process stand-ins, for fast tests of the state
machines that need neither a database nor Redis.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from . import conf
from .execution.queues import Enqueue, get_queue, rq_queue_names, scheduled_to_now


def batch_queue_names() -> list[str]:
    """Every RQ queue batches use: the default queue and the named queues' targets."""
    names = [conf.get("DEFAULT_QUEUE"), *(conf.get("NAMED_QUEUES") or {}).values()]
    known = rq_queue_names()
    return [n for n in dict.fromkeys(names) if n in known]


def drain(queues: Iterable[str] | None = None, max_jobs: int | None = None) -> int:
    """Run queued jobs in this process until ``queues`` are empty or ``max_jobs`` have run.

    Jobs enqueued while draining (chain steps, callbacks, retries, compensations) are run too, in
    enqueue order; delayed retries are run without waiting. Returns how many RQ jobs ran. Each
    attempt of a job, callback or compensation is one RQ job. Works inside
    ``pytest.mark.django_db(transaction=True)`` tests (enqueues happen on commit).
    """
    from rq import SimpleWorker

    names = list(queues) if queues is not None else batch_queue_names()
    if not names:
        return 0
    rq_queues = [get_queue(name) for name in names]
    worker = SimpleWorker(
        rq_queues, connection=rq_queues[0].connection, serializer=rq_queues[0].serializer
    )
    ran = 0
    try:
        while max_jobs is None or ran < max_jobs:
            scheduled_to_now(names)
            found = worker.queue_class.dequeue_any(
                rq_queues,
                None,
                connection=worker.connection,
                job_class=worker.job_class,
                serializer=worker.serializer,
                death_penalty_class=worker.death_penalty_class,
            )
            if found is None:
                break
            job, queue = found
            worker.execute_job(job, queue)
            ran += 1
    finally:
        keys = [worker.key, getattr(worker, "executions_key", None)]  # rq >= 2.1 has executions
        worker.connection.delete(*[k for k in keys if k])
    return ran


class MemoryQueue:
    """An in-process stand-in for RQ: enqueues land in a list, :meth:`run` performs them.

    Each item is run through the same runner as a worker uses (claim for that RQ job id, run the
    user's code, record the outcome), in enqueue order; delayed retries run without waiting.
    """

    def __init__(self) -> None:
        self.items: deque[Enqueue] = deque()
        self.ran = 0

    def __call__(self, items: list[Enqueue]) -> None:
        self.items.extend(items)

    def run(self, max_jobs: int | None = None) -> int:
        """Run queued items (and those they enqueue) until none is left or ``max_jobs`` ran."""
        from .execution.runner import execute

        ran = 0
        while self.items and (max_jobs is None or ran < max_jobs):
            item = self.items.popleft()
            execute(item.row_id, item.rq_job_id, "memory-queue")
            ran += 1
        self.ran += ran
        return ran


@contextmanager
def in_memory() -> Iterator[MemoryQueue]:
    """Run batches with no database, Redis or worker process: ``MemoryStorage`` keeps the
    state and a :class:`MemoryQueue` replaces RQ. Every state machine runs as it does on a
    worker; only storage and transport are swapped. For fast tests of orchestration::

        with in_memory() as queue:
            batch_id = BatchManager().batch([...]).dispatch()
            queue.run()
    """
    from django.conf import settings
    from django.test import override_settings

    from .execution.queues import use_transport
    from .storage import get_storage

    queue = MemoryQueue()
    configured = dict(getattr(settings, "BATCHQUEUE", None) or {})
    with override_settings(BATCHQUEUE={**configured, "STORAGE": "memory"}):
        storage = get_storage()
        storage.reset()  # type: ignore[attr-defined]
        use_transport(queue)
        try:
            yield queue
        finally:
            use_transport(None)
            storage.reset()  # type: ignore[attr-defined]
