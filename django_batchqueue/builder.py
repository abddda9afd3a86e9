"""The fluent builder behind ``batch()`` and ``chain()``: collect, validate, then dispatch."""

from __future__ import annotations

from typing import Any

from . import signals
from .definitions import (
    BatchPlan,
    CallbackSpec,
    JobSpec,
    NestedSpec,
    check_tuning,
    parse_callback,
    parse_jobs,
)
from .exceptions import BatchQueueError, InvalidDefinition
from .execution import flow, tree
from .execution.effects import Effects
from .execution.queues import resolve_queue
from .serialization import check_json
from .states import BatchType, CallbackEvent
from .storage import get_storage


class BatchBuilder:
    """Collects a batch's jobs and options; :meth:`dispatch` validates and stores it.

    Every method returns the builder. Bad input raises a
    :class:`~django_batchqueue.exceptions.BatchQueueError` naming the offending value, before
    anything is written or enqueued.
    """

    def __init__(self, jobs: Any, batch_type: str) -> None:
        self._type = BatchType(batch_type)
        # A malformed job list is reported at dispatch, or, when this builder is nested in
        # another, under its path there (``jobs[1].jobs[3]``).
        self._specs: list[JobSpec | NestedSpec] = []
        self._error: BatchQueueError | None = None
        try:
            self._specs = parse_jobs(jobs)
        except BatchQueueError as exc:
            self._error = exc
        self._dispatched_as: str | None = None
        self._context: dict[str, Any] = {}
        self._callbacks: dict[str, list[CallbackSpec]] = {}
        self._allow_failures = False
        self._queue_name: str | None = None
        self._rq_queue: str | None = None
        self._defaults: dict[str, Any] = {}
        self._label = ""
        self._max_concurrency: int | None = None
        self._extra_options: dict[str, Any] = {}
        self._user: Any = _FROM_REQUEST

    def __repr__(self) -> str:
        return f"<BatchBuilder {self._type} of {len(self._specs)} jobs>"

    # -- options ---------------------------------------------------------------------------

    def set_context(self, context: dict[str, Any]) -> BatchBuilder:
        """The batch's context: shared read-only data (parallel) or the chain's starting state."""
        if not isinstance(context, dict):
            raise InvalidDefinition(f"context must be a dict, got {type(context).__name__}")
        check_json(context, "context")
        self._context = dict(context)
        return self

    def on_complete(self, callback: Any) -> BatchBuilder:
        """Run ``callback`` once when the batch completes.

        Each of ``on_complete``, ``on_failure``, ``on_job_failure`` and ``on_finally`` may be
        called several times: every callback runs once for its outcome, in the order added,
        and one that fails does not stop the others.
        """
        return self._callback(CallbackEvent.ON_COMPLETE, callback)

    def on_failure(self, callback: Any) -> BatchBuilder:
        """Run ``callback`` once when the batch fails (with allow_failures: ends with failures)."""
        return self._callback(CallbackEvent.ON_FAILURE, callback)

    def on_job_failure(self, callback: Any) -> BatchBuilder:
        """Run ``callback`` for every job that fails for good."""
        return self._callback(CallbackEvent.ON_JOB_FAILURE, callback)

    def on_finally(self, callback: Any) -> BatchBuilder:
        """Run ``callback`` once the batch has reached any final status (completed, failed or
        cancelled) and that outcome's other callbacks and compensations have finished. It gets
        ``status`` (the final status) and ``error`` (``None`` when the batch completed)."""
        return self._callback(CallbackEvent.ON_FINALLY, callback)

    def _callback(self, event: str, callback: Any) -> BatchBuilder:
        added = len(self._callbacks.get(event, []))
        label = f"{event}[{added}]" if added else event  # the first is named by its event
        self._callbacks.setdefault(event, []).append(parse_callback(callback, label))
        return self

    def allow_failures(self, flag: bool = True) -> BatchBuilder:
        """Parallel only: run every job even when some fail; the batch completes at the end."""
        if flag and self._type == BatchType.SEQUENTIAL:
            raise InvalidDefinition(
                "allow_failures() applies to parallel batches only; a chain stops at its first "
                "failed step"
            )
        self._allow_failures = bool(flag)
        return self

    def max_concurrency(self, n: int) -> BatchBuilder:
        """Parallel only: at most ``n`` of the batch's jobs queued or running at once; the rest
        wait their turn and start in position order as earlier ones finish."""
        if self._type == BatchType.SEQUENTIAL:
            raise InvalidDefinition(
                "max_concurrency() applies to parallel batches; a chain runs one step at a time"
            )
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidDefinition(f"max_concurrency must be a whole number >= 1, got {n!r:.80}")
        self._max_concurrency = n
        return self

    def queue(self, name: str) -> BatchBuilder:
        """Send all of the batch's work to the named queue ``BATCHQUEUE["NAMED_QUEUES"][name]``."""
        resolve_queue(named=name)
        self._queue_name, self._rq_queue = name, None
        return self

    def queue_config(self, rq_queue_name: str) -> BatchBuilder:
        """Send all of the batch's work to an ``RQ_QUEUES`` queue directly."""
        resolve_queue(rq_name=rq_queue_name)
        self._queue_name, self._rq_queue = None, rq_queue_name
        return self

    def retry(self, max_retries: int, delay: float = 0) -> BatchBuilder:
        """Default retries (and delay in seconds) for the batch's jobs and compensations."""
        self._defaults.update(
            check_tuning({"max_retries": max_retries, "retry_delay": delay}, "retry()")
        )
        return self

    def timeout(self, seconds: int) -> BatchBuilder:
        """Default timeout in seconds for the batch's jobs and compensations."""
        self._defaults.update(check_tuning({"timeout": seconds}, "timeout()"))
        return self

    def name(self, label: str) -> BatchBuilder:
        """A human-readable label, shown in the admin and the API."""
        if not isinstance(label, str) or len(label) > 255:
            raise InvalidDefinition(
                f"name must be a string of at most 255 characters, got {label!r:.80}"
            )
        self._label = label
        return self

    def created_by(self, user: Any) -> BatchBuilder:
        """Record the user who dispatched the batch (``None`` for nobody).

        Without it, the user of the current request is recorded when ``BatchUserMiddleware``
        knows one.
        """
        if user is not None and getattr(user, "pk", None) is None:
            user = None  # AnonymousUser
        self._user = user
        return self

    # -- dispatch --------------------------------------------------------------------------

    def as_plan(self, label: str = "jobs") -> BatchPlan:
        """The validated definition, for dispatch or as a nested entry at ``label``.

        Raises what was wrong with the jobs, named under ``label``; refuses an empty batch and
        a builder that was already dispatched.
        """
        if self._error is not None:
            if label == "jobs":
                raise self._error
            text = str(self._error)
            raise type(self._error)(
                f"{label}.{text}" if text.startswith("jobs") else f"{label}: {text}"
            )
        if self._dispatched_as is not None:
            raise InvalidDefinition(
                f"{label}: this batch was already dispatched (as {self._dispatched_as}); "
                "nest a new builder instead"
            )
        if not self._specs:
            where = "a batch" if label == "jobs" else f"{label}: a nested batch"
            raise InvalidDefinition(
                f"{where} needs at least one job (None and False entries are skipped)"
            )
        queue = None
        if self._queue_name is not None or self._rq_queue is not None:
            queue = resolve_queue(named=self._queue_name, rq_name=self._rq_queue)
        return BatchPlan(
            type=self._type,
            entries=list(self._specs),
            context=dict(self._context),
            callbacks={
                event: [spec.as_stored() for spec in specs]
                for event, specs in self._callbacks.items()
            },
            defaults=dict(self._defaults),
            allow_failures=self._allow_failures,
            max_concurrency=self._max_concurrency,
            name=self._label,
            queue=queue,
            extra_options=dict(self._extra_options),
        )

    def dispatch(self) -> str:
        """Validate, store the batch (with its nested batches) and its jobs in one transaction,
        and enqueue what starts now (after commit).

        Returns the batch id. Raises before anything is written when any input is bad.
        """
        plan = self.as_plan()
        user = _current_user() if self._user is _FROM_REQUEST else self._user
        nodes = tree.flatten(plan, created_by_id=getattr(user, "pk", None))
        root = nodes[0].batch
        storage = get_storage()
        fx = Effects(storage)
        with storage.atomic():
            for node in nodes:
                storage.create_batch(node.batch, node.rows)
            fx.send(signals.batch_dispatched, root.id, batch=root)
            for item in nodes[0].enqueues:
                fx.enqueue(item)
            flow.after_dispatch(storage, root, fx)
            fx.release()
        self._dispatched_as = str(root.id)
        return str(root.id)


#: ``created_by`` not called: take the user of the current request, if any.
_FROM_REQUEST = object()


def _current_user() -> Any:
    from .context import current_user

    return current_user()
