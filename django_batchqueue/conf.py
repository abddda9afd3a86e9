"""Read ``settings.BATCHQUEUE`` with defaults, at every access (so ``override_settings`` works)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # RQ_QUEUES name that carries every batch job, callback and compensation by default.
    "DEFAULT_QUEUE": "batchjob",
    # .queue(name) -> RQ_QUEUES name.
    "NAMED_QUEUES": {},
    # Where batch state lives: "sql" (the Batch/BatchJob models) or "redis".
    "STORAGE": "sql",
    # Redis storage: its Redis (None: the default queue's), and how long a finished batch tree
    # is kept once its outcome was acted on, in seconds (None or 0: until pruned).
    "REDIS_STORAGE_URL": None,
    "REDIS_TTL": 7 * 24 * 3600,
    # Largest JSON payload (args of one job, context, callback args) accepted at dispatch, in bytes.
    "MAX_PAYLOAD_BYTES": 1_000_000,
    # Module prefixes (besides installed apps) that a worker may import job classes from.
    "JOB_MODULES": [],
    # Seconds RQ gives a job beyond its own timeout, so bookkeeping after a timeout can finish.
    "TIMEOUT_GRACE": 30,
    # Rows kept in Redis after an RQ job fails (the database keeps the real record).
    "RQ_FAILURE_TTL": 24 * 3600,
    # Reconciliation: how old a queued/running row or a quiet batch must be before it is
    # judged, and how many rows one step of a pass looks at (a pass looks at every quiet row).
    "RECONCILE_GRACE": 30,
    "RECONCILE_LIMIT": 2000,
    # BatchWorker: seconds between the reconcile passes it runs (one worker at a time), and the
    # lifetime of its heartbeat key (a killed worker is noticed once it expires).
    "RECONCILE_INTERVAL": 15,
    "WORKER_HEARTBEAT_TTL": 15,
    # PersistentBatchWorker: jobs one work horse runs before a fresh one takes over.
    "HORSE_MAX_JOBS": 1000,
    # PostgreSQL: a run's claim, a parallel job's completion and a chain step's hand-off to the
    # next commit without waiting for the WAL flush. A server crash can then undo the last
    # moments of those; the jobs concerned are re-run (at least once, as after any crash).
    # Settling, callbacks, nested batches and compensations always commit synchronously, and
    # flush these with them.
    "ASYNC_JOB_COMMITS": True,
    # Fair turns: a parallel batch keeps at most this many of its jobs queued or running and
    # releases more as they finish, so batches sharing a queue take turns. None: all at once.
    "RELEASE_WINDOW": 100,
    # REST API: permission classes (dotted paths) whose users see every batch.
    "API_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    # REST API: also admit any other authenticated user, showing them only the batches they
    # created (Batch.created_by); other batches are 404 for them.
    "API_USERS_SEE_OWN_BATCHES": False,
}


def get(name: str) -> Any:
    """Return one BATCHQUEUE setting, falling back to its default."""
    user = getattr(settings, "BATCHQUEUE", None) or {}
    if name in user:
        return user[name]
    return DEFAULTS[name]
