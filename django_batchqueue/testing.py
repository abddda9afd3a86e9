"""Helpers for testing code that dispatches batches.

:func:`drain` runs queued RQ jobs in the calling process against the real Redis configured in
``RQ_QUEUES``, so tests exercise the same code path as workers without starting any.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import conf
from .execution.queues import get_queue, rq_queue_names, scheduled_to_now


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
        worker.connection.delete(worker.key, worker.executions_key)
    return ran
