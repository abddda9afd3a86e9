"""The only module that talks to RQ, django-rq and Redis.

RQ jobs carry one argument, the BatchJob row id; everything else lives in the database.
Enqueues happen after the surrounding transaction commits. If Redis refuses them, the rows stay
``queued`` and ``batchqueue_reconcile`` (which workers also run periodically) enqueues them later.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .. import conf
from ..exceptions import UnknownQueue

logger = logging.getLogger(__name__)

RUNNER = "django_batchqueue.execution.runner.perform"
RQ_DEFAULT_TIMEOUT = 180  # RQ's own default when neither the job nor RQ_QUEUES sets one


@dataclass(frozen=True)
class Enqueue:
    """One RQ job to create: run row ``row_id`` as RQ job ``rq_job_id`` on ``queue``."""

    row_id: str
    rq_job_id: str
    queue: str
    timeout: int | None = None
    delay: float = 0


def new_rq_job_id() -> str:
    return uuid.uuid4().hex


# --------------------------------------------------------------------------- queue names


def rq_queue_names() -> set[str]:
    return set(getattr(settings, "RQ_QUEUES", {}) or {})


def resolve_queue(named: str | None = None, rq_name: str | None = None) -> str:
    """Return the RQ queue for a named queue, an explicit RQ queue, or the default."""
    if named is not None:
        mapping = conf.get("NAMED_QUEUES") or {}
        if named not in mapping:
            known = ", ".join(sorted(mapping)) or "none configured"
            raise UnknownQueue(
                f"unknown named queue {named!r} (BATCHQUEUE['NAMED_QUEUES']: {known})"
            )
        rq_name = mapping[named]
    if rq_name is None:
        rq_name = conf.get("DEFAULT_QUEUE")
    if not isinstance(rq_name, str) or rq_name not in rq_queue_names():
        raise UnknownQueue(f"RQ queue {rq_name!r} is not in settings.RQ_QUEUES")
    return rq_name


# --------------------------------------------------------------------------- queues


_local = threading.local()
_connection_override: Any = None


def use_connection(connection: Any) -> None:
    """Route every batch queue to ``connection`` (the demo's embedded Redis substitute)."""
    global _connection_override
    _connection_override = connection
    reset_queue_cache()


def get_queue(name: str) -> Any:
    """A django-rq queue, cached per thread and process (RQ connections are not fork-safe)."""
    import os

    import django_rq

    cache = getattr(_local, "queues", None)
    if cache is None or getattr(_local, "pid", None) != os.getpid():
        cache = _local.queues = {}
        _local.pid = os.getpid()
    if name not in cache:
        cache[name] = django_rq.get_queue(name, connection=_connection_override)
    return cache[name]


def reset_queue_cache() -> None:
    _local.queues = None


def default_timeout(queue_name: str) -> int:
    configured = (getattr(settings, "RQ_QUEUES", {}).get(queue_name) or {}).get("DEFAULT_TIMEOUT")
    return int(configured or RQ_DEFAULT_TIMEOUT)


#: Where RQ jobs go instead of RQ (the fast test tier's in-process queue), if set.
_transport: Callable[[list[Enqueue]], None] | None = None


def use_transport(transport: Callable[[list[Enqueue]], None] | None) -> None:
    """Send every enqueue to ``transport`` instead of RQ (``None`` restores RQ)."""
    global _transport
    _transport = transport


def enqueue_now(items: Iterable[Enqueue]) -> None:
    """Create the RQ jobs, one pipeline per queue. Failures are logged, not raised."""
    from rq import Queue

    if _transport is not None:
        _transport(list(items))
        return

    grouped: dict[str, list[Enqueue]] = defaultdict(list)
    for item in items:
        grouped[item.queue].append(item)
    grace = int(conf.get("TIMEOUT_GRACE"))
    failure_ttl = int(conf.get("RQ_FAILURE_TTL"))
    for queue_name, group in grouped.items():
        try:
            queue = get_queue(queue_name)
            base_timeout = default_timeout(queue_name)
            now = None
            with queue.connection.pipeline() as pipe:
                immediate = []
                for item in group:
                    data = Queue.prepare_data(
                        RUNNER,
                        args=(item.row_id,),
                        job_id=item.rq_job_id,
                        timeout=(item.timeout or base_timeout) + grace,
                        result_ttl=0,
                        failure_ttl=failure_ttl,
                        description=f"batchqueue {item.row_id}",
                    )
                    if item.delay > 0:
                        now = now or timezone.now()
                        job = queue.create_job(
                            RUNNER,
                            args=(item.row_id,),
                            job_id=item.rq_job_id,
                            timeout=data.timeout,
                            result_ttl=0,
                            failure_ttl=failure_ttl,
                            description=data.description,
                        )
                        queue.schedule_job(job, now + timedelta(seconds=item.delay), pipeline=pipe)
                    else:
                        immediate.append(data)
                if immediate:
                    queue.enqueue_many(immediate, pipeline=pipe)
                pipe.execute()
        except Exception:
            logger.warning(
                "batchqueue: could not enqueue %d job(s) on RQ queue %r; they stay queued in the "
                "database and batchqueue_reconcile will enqueue them",
                len(group),
                queue_name,
                exc_info=True,
            )


def enqueue_on_commit(items: list[Enqueue]) -> None:
    """Enqueue ``items`` once the current transaction commits (at once outside one)."""
    if items:
        transaction.on_commit(lambda: enqueue_now(items))


def scheduled_to_now(queue_names: Iterable[str]) -> int:
    """Move every scheduled (delayed) RQ job on these queues to the front of its queue now."""
    from rq.registry import ScheduledJobRegistry

    moved = 0
    for name in queue_names:
        queue = get_queue(name)
        registry = ScheduledJobRegistry(queue=queue)
        for rq_id in registry.get_job_ids():
            try:
                registry.requeue(rq_id)
            except Exception:
                logger.debug("scheduled job %s vanished", rq_id, exc_info=True)
                continue
            moved += 1
    return moved


# --------------------------------------------------------------------------- worker side


def current_rq_job() -> Any:
    from rq import get_current_job

    return get_current_job()


def worker_name(rq_job: Any = None) -> str:
    """The RQ worker running this process's job (forked horses also have it in the env)."""
    import os

    return (getattr(rq_job, "worker_name", None) or os.environ.get("RQ_WORKER_ID", "")) or ""


# --------------------------------------------------------------------------- reconciliation

#: Field a BatchWorker adds to its RQ worker hash: its parent records every outcome itself.
PARENT_RECORDS_FIELD = "batchqueue_parent_records"
#: Field a batch worker adds to its RQ worker hash: its ``current_job`` field is kept true
#: (RQ 3 does not write that field; a plain RQ 3 worker's hash never names its job).
KEEPS_CURRENT_JOB_FIELD = "batchqueue_keeps_current_job"


def mark_parent_records(connection: Any, worker_key: str) -> None:
    """Flag a worker's RQ hash: outcomes of its runs are recorded by its (living) parent."""
    connection.hset(worker_key, PARENT_RECORDS_FIELD, "1")


def promote_due_scheduled(queue_names: Iterable[str]) -> int:
    """Enqueue delayed retries that are due, on queues no RQ scheduler is serving."""
    from rq.registry import ScheduledJobRegistry
    from rq.scheduler import RQScheduler

    moved = 0
    for name in queue_names:
        queue = get_queue(name)
        if queue.connection.exists(RQScheduler.get_locking_key(name)):
            continue  # an RQ scheduler owns this queue
        registry = ScheduledJobRegistry(queue=queue)
        for rq_id in registry.get_jobs_to_schedule():
            try:
                registry.requeue(rq_id)
                moved += 1
            except Exception:
                logger.debug("scheduled job %s vanished", rq_id, exc_info=True)
    return moved


#: How long a worker count is reused before Redis is asked again, in seconds.
WORKER_COUNT_TTL = 10.0
_worker_counts: dict[str, tuple[float, int]] = {}


def workers_on(queue_name: str) -> int:
    """How many RQ workers listen on the queue (cached for a few seconds; 0 if unknown)."""
    import time

    from rq import Worker

    if _transport is not None:
        return 1  # the in-process queue of the fast tier runs one job at a time
    now = time.monotonic()
    cached = _worker_counts.get(queue_name)
    if cached is not None and now - cached[0] < WORKER_COUNT_TTL:
        return cached[1]
    try:
        count = int(Worker.count(queue=get_queue(queue_name)))
    except Exception:
        logger.debug("batchqueue: could not count the workers of %r", queue_name, exc_info=True)
        count = 0
    _worker_counts[queue_name] = (now, count)
    return count


def try_lock(queue_name: str, key: str, seconds: int) -> bool:
    """A best-effort cluster-wide lock (SET NX EX) on the queue's Redis."""
    return bool(
        get_queue(queue_name).connection.set(key, worker_name() or "x", nx=True, ex=max(1, seconds))
    )
