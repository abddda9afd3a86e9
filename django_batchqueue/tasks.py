"""``BatchQueueBackend``: Django's Tasks framework on django-batchqueue.

::

    TASKS = {"default": {"BACKEND": "django_batchqueue.tasks.BatchQueueBackend"}}

``my_task.enqueue(...)`` stores the task as a one-job batch and runs it on RQ (so it shows in
the admin and the API, with retries, timeouts and reconciliation like any batch job);
``my_task.get_result(id)`` and ``result.refresh()`` read its status, return value, errors and
attempts back; Django's ``task_enqueued``, ``task_started`` and ``task_finished`` signals are
sent. A task's ``queue_name`` maps onto the named queue of that name (``BATCHQUEUE
["NAMED_QUEUES"]``) or the ``RQ_QUEUES`` entry of that name; ``"default"`` is the default queue.

Independently of this backend, a ``@task`` function may be used wherever a Job class is (a
batch member, a chain step, a callback, a compensation).
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Iterable
from typing import Any

from django.core import checks

from . import conf, djtasks, signals

if not djtasks.AVAILABLE:  # pragma: no cover - depends on the installed Django
    raise ImportError(
        "django_batchqueue.tasks needs Django's Tasks framework: Django 6, or the django-tasks "
        "backport on Django 5.2 (pip install django-tasks)"
    )

from .djtasks import BaseTaskBackend, InvalidTask, TaskResultDoesNotExist, TaskResultStatus
from .exceptions import BatchQueueError
from .execution.queues import rq_queue_names
from .registry import resolve
from .states import JobKind, JobStatus
from .storage import get_storage
from .storage.base import JobQuery
from .storage.records import JobRecord

#: Where a task batch says which backend alias enqueued it.
BACKEND_OPTION = "django_task_backend"

#: A job row's status as a task result's (a cancelled run never succeeds: FAILED).
_STATUS = {
    JobStatus.PENDING: TaskResultStatus.READY,
    JobStatus.QUEUED: TaskResultStatus.READY,
    JobStatus.RUNNING: TaskResultStatus.RUNNING,
    JobStatus.COMPLETED: TaskResultStatus.SUCCESSFUL,
    JobStatus.FAILED: TaskResultStatus.FAILED,
    JobStatus.CANCELLED: TaskResultStatus.FAILED,
}
_FINISHED = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


def _exception_path(traceback: str, error: str) -> str:
    """The class path of the exception a traceback (or, without one, an error line) ends with.

    Python prints ``module.Class: message`` for exceptions outside ``builtins``.
    """
    last = (traceback.strip().splitlines() or [error])[-1] or error
    name = last.split(":", 1)[0].strip() or "Exception"
    return name if "." in name else f"builtins.{name}"


def result_of_row(task: Any, row: JobRecord, *, running: bool = False, alias: str = "") -> Any:
    """A ``TaskResult`` for the task run stored in ``row`` (its batch's id is the result id)."""
    status = TaskResultStatus.RUNNING if running else _STATUS[JobStatus(row.status)]
    errors = []
    if row.error:
        errors.append(
            djtasks.TaskError(
                exception_class_path=_exception_path(row.traceback, row.error),
                traceback=row.traceback or row.error,
            )
        )
    result = djtasks.TaskResult(
        task=task,
        id=str(row.batch_id),
        status=status,
        enqueued_at=row.enqueued_at or row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at if row.status in _FINISHED else None,
        last_attempted_at=row.started_at,
        args=[],
        kwargs=dict(row.args),
        backend=alias or task.backend,
        errors=errors,
        worker_ids=[row.worker_name or "batchqueue"] * row.attempts,
    )
    if status == TaskResultStatus.SUCCESSFUL:
        object.__setattr__(result, "_return_value", row.result)
    return result


class BatchQueueBackend(BaseTaskBackend):
    """Runs Django tasks as one-job batches on RQ, with results in batch storage."""

    #: ``run_after`` is not supported: a batch job runs as soon as a worker takes it.
    supports_defer = False
    #: Coroutine functions are run to completion by the worker.
    supports_async_task = True
    #: Results are stored and can be read from any process.
    supports_get_result = True
    #: RQ runs a queue's jobs in order; there is no per-job priority.
    supports_priority = False

    def enqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        from .manager import BatchManager

        self.validate_task(task)
        try:
            call_kwargs = _bind(task, args, kwargs)
            builder = BatchManager().batch([{"class": task, "args": call_kwargs}])
            named = conf.get("NAMED_QUEUES") or {}
            if task.queue_name in named:
                builder.queue(task.queue_name)
            elif task.queue_name != "default":
                builder.queue_config(task.queue_name)
            builder.name(f"task {task.name}")
            builder._extra_options[BACKEND_OPTION] = self.alias
            batch_id = builder.dispatch()
        except BatchQueueError as exc:
            raise InvalidTask(str(exc)) from exc
        result = self.get_result(batch_id)
        djtasks.task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id: str) -> Any:
        found = _task_row(result_id)
        if found is None:
            raise TaskResultDoesNotExist(result_id)
        row, alias = found
        return result_of_row(resolve(row.job_path), row, alias=alias)

    def check(self, **kwargs: Any) -> Iterable[checks.CheckMessage]:
        messages = list(super().check(**kwargs))
        known = set(conf.get("NAMED_QUEUES") or {}) | rq_queue_names() | {"default"}
        for queue in sorted(self.queues - known):
            messages.append(
                checks.Warning(
                    f"TASKS[{self.alias!r}] lists queue {queue!r}, which is neither a "
                    "BATCHQUEUE['NAMED_QUEUES'] name nor an RQ_QUEUES entry",
                    hint="Add it to BATCHQUEUE['NAMED_QUEUES'] or RQ_QUEUES",
                    id="django_batchqueue.W030",
                )
            )
        return messages


def _bind(task: Any, args: Any, kwargs: Any) -> dict[str, Any]:
    """The call's arguments as keyword arguments (batch jobs take keyword arguments only)."""
    signature = inspect.signature(task.func)
    params = list(signature.parameters.values())
    if task.takes_context:
        params = params[1:]
    if any(p.kind in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY) for p in params):
        raise InvalidTask(
            f"{task.name}: this backend passes arguments by name; the function may not take "
            "*args or positional-only arguments"
        )
    try:
        bound = signature.replace(parameters=params).bind(*args, **kwargs)
    except TypeError as exc:
        raise InvalidTask(f"{task.name}: {exc}") from None
    return dict(bound.arguments)


def _task_row(result_id: Any) -> tuple[JobRecord, str] | None:
    try:
        batch_id = uuid.UUID(str(result_id))
    except ValueError:
        return None
    storage = get_storage()
    batch = storage.get_batch(batch_id)
    if batch is None or BACKEND_OPTION not in batch.options:
        return None
    members = storage.list_jobs(JobQuery(batch_id=batch_id, kind=JobKind.JOB), 0, 1)
    row = storage.load_job(members[0].id) if members else None
    return (row, batch.options[BACKEND_OPTION]) if row is not None else None


def connect_signals() -> None:
    """Send Django's task signals for the runs of tasks this backend enqueued (at start-up)."""
    signals.job_started.connect(_started, dispatch_uid="batchqueue-task-started")
    for finished in (signals.batch_finished, signals.batch_failed, signals.batch_cancelled):
        finished.connect(_finished, dispatch_uid=f"batchqueue-task-{id(finished)}")


def _started(sender: Any, batch_id: str, batch: Any = None, **kwargs: Any) -> None:
    if batch is not None and BACKEND_OPTION not in batch.options:
        return  # not a task this backend enqueued (no read needed)
    found = _task_row(batch_id)
    if found is not None:
        row, alias = found
        result = result_of_row(resolve(row.job_path), row, running=True, alias=alias)
        djtasks.task_started.send(BatchQueueBackend, task_result=result)


def _finished(sender: Any, batch_id: str, **kwargs: Any) -> None:
    found = _task_row(batch_id)
    if found is not None:
        row, alias = found
        djtasks.task_finished.send(
            BatchQueueBackend, task_result=result_of_row(resolve(row.job_path), row, alias=alias)
        )
