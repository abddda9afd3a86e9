"""What users write: the :class:`Job` base class and the :func:`job` decorator.

Turning a stored import path back into something runnable is :mod:`.registry`'s job.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

_JOB_MARK = "__batchqueue_job__"


class Job:
    """Base class of a batch job, callback or compensation.

    Subclasses implement :meth:`run`; the job's args arrive as keyword arguments and the return
    value (JSON-serializable) is the job's result. Class attributes ``max_retries``,
    ``retry_delay`` (seconds) and ``timeout`` (seconds) are the job's defaults.
    """

    max_retries: int = 0
    retry_delay: float = 0
    timeout: int | None = None

    #: Shared (parallel) or accumulated (chain) context. In a chain, changes are saved.
    context: dict[str, Any]
    batch_id: str
    job_id: str
    position: int
    #: 1-based number of this run.
    attempt: int
    #: For a compensation run: what it undoes (see the contract); otherwise ``None``.
    compensation: dict[str, Any] | None
    #: In a chain: the result of the step before this one (for the first step of a chain
    #: nested as a chain step, the parent's step before it); ``None`` otherwise.
    previous_result: Any

    def __init__(
        self,
        *,
        context: dict[str, Any] | None = None,
        batch_id: str = "",
        job_id: str = "",
        position: int = 0,
        attempt: int = 1,
        compensation: dict[str, Any] | None = None,
        previous_result: Any = None,
    ) -> None:
        self.context = context if context is not None else {}
        self.batch_id = batch_id
        self.job_id = job_id
        self.position = position
        self.attempt = attempt
        self.compensation = compensation
        self.previous_result = previous_result

    def run(self, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__qualname__} must implement run()")

    def add_jobs(self, jobs: Iterable[Any]) -> list[str]:
        """Append jobs to this job's own batch; returns the new job ids."""
        from .execution.control import add_jobs  # at call time: authoring stays import-light

        return add_jobs(self.batch_id, jobs)


@dataclass(frozen=True)
class FunctionJobOptions:
    """Options given to :func:`job`; ``None`` means "not set here"."""

    max_retries: int | None = None
    retry_delay: float | None = None
    timeout: int | None = None


def job(
    func: Callable[..., Any] | None = None,
    *,
    max_retries: int | None = None,
    retry_delay: float | None = None,
    timeout: int | None = None,
) -> Any:
    """Mark a module-level function as usable wherever a Job class is accepted.

    ``@job`` or ``@job(max_retries=2, timeout=30)``. The function is called with the job's args
    and returns the result; it stays an ordinary function otherwise.
    """

    def mark(f: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(f) or inspect.isclass(f):
            raise TypeError("@job decorates functions; subclass Job for classes")
        setattr(f, _JOB_MARK, FunctionJobOptions(max_retries, retry_delay, timeout))
        return f

    return mark(func) if func is not None else mark


def is_job_class(obj: Any) -> bool:
    return inspect.isclass(obj) and issubclass(obj, Job) and obj is not Job


def is_job_function(obj: Any) -> bool:
    return inspect.isfunction(obj) and isinstance(getattr(obj, _JOB_MARK, None), FunctionJobOptions)


def job_defaults(target: Any) -> dict[str, Any]:
    """The retry/timeout settings that ``target`` sets explicitly (not inherited from Job)."""
    if not isinstance(target, type) and not is_job_function(target):
        return {}  # a Django @task: nothing of its own
    if is_job_function(target):
        opts: FunctionJobOptions = getattr(target, _JOB_MARK)
        values = {
            "max_retries": opts.max_retries,
            "retry_delay": opts.retry_delay,
            "timeout": opts.timeout,
        }
        return {k: v for k, v in values.items() if v is not None}
    found: dict[str, Any] = {}
    for klass in target.__mro__:
        if klass is Job:
            break
        for name in ("max_retries", "retry_delay", "timeout"):
            if name in klass.__dict__ and name not in found:
                found[name] = klass.__dict__[name]
    return found
