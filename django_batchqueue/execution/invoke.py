"""Call the user's code for one run: build the Job instance and its keyword arguments."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from ..djtasks import is_task
from ..exceptions import MalformedPayload
from ..jobs import is_job_class
from ..states import JobKind
from ..storage.records import JobRecord


def _accepted(func: Any, offered: dict[str, Any]) -> dict[str, Any]:
    """Keep the framework-provided names that ``func`` accepts (all of them with ``**kwargs``)."""
    params = inspect.signature(func).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return offered
    names = {p.name for p in params if p.kind is not inspect.Parameter.POSITIONAL_ONLY}
    return {k: v for k, v in offered.items() if k in names}


def call(target: Any, row: JobRecord) -> tuple[Any, dict[str, Any] | None]:
    """Run ``target`` for ``row``; returns (result, the job's context after the run).

    For an ``@job`` function the context is the one it was given: only Job instances can change
    it.
    """
    batch = row.loaded_batch
    if not isinstance(row.args, dict):
        raise MalformedPayload(
            f"stored args of job {row.pk} are not a JSON object: {row.args!r:.80}"
        )
    if not isinstance(batch.context, dict):
        raise MalformedPayload(f"stored context of batch {batch.pk} is not a JSON object")
    if not isinstance(row.meta, dict):
        raise MalformedPayload(f"stored meta of job {row.pk} is not a JSON object")
    kwargs = dict(row.args)
    compensation = None
    context = batch.context
    if row.kind == JobKind.COMPENSATION:
        compensation = dict(row.meta)
        context = compensation.get("context") or {}
    if is_job_class(target):
        instance = target(
            context=context,
            batch_id=str(batch.pk),
            job_id=str(row.pk),
            position=row.position,
            attempt=row.attempts,
            compensation=compensation,
            previous_result=row.meta.get("previous_result") if row.kind == JobKind.JOB else None,
        )
        func = instance.run
    elif is_task(target):
        instance, func = None, target.func
    else:
        instance, func = None, target
    if row.kind == JobKind.CALLBACK:
        kwargs.update(_accepted(func, dict(row.meta)))
    if is_task(target):
        # A Django @task: called as its backend would (a coroutine function too), with a
        # TaskContext first when it takes one.
        extra = [task_context(target, row)] if target.takes_context else []
        return target.call(*extra, **kwargs), context
    result = func(**kwargs)
    if inspect.iscoroutine(result):
        result = asyncio.run(result)
    # A function cannot change the context: a chain's context passes through it unchanged.
    return result, (instance.context if instance is not None else context)


def task_context(task: Any, row: JobRecord) -> Any:
    """The ``TaskContext`` a ``takes_context`` Django task gets for this run."""
    from ..djtasks import TaskContext
    from ..tasks import result_of_row

    return TaskContext(task_result=result_of_row(task, row, running=True))
