"""What users write: the :class:`Job` base class and the :func:`job` decorator.

Also the one place that turns a stored import path back into something runnable. A worker only
ever runs Job subclasses and @job functions, whatever a database row or Redis message names,
and it never imports a module outside the installed apps and ``BATCHQUEUE["JOB_MODULES"]``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.apps import apps

from . import conf
from .exceptions import JobImportError

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

    def __init__(
        self,
        *,
        context: dict[str, Any] | None = None,
        batch_id: str = "",
        job_id: str = "",
        position: int = 0,
        attempt: int = 1,
        compensation: dict[str, Any] | None = None,
    ) -> None:
        self.context = context if context is not None else {}
        self.batch_id = batch_id
        self.job_id = job_id
        self.position = position
        self.attempt = attempt
        self.compensation = compensation

    def run(self, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__qualname__} must implement run()")

    def add_jobs(self, jobs: Iterable[Any]) -> list[str]:
        """Append jobs to this job's own batch; returns the new job ids."""
        from .manager import BatchManager

        return BatchManager().add_jobs(self.batch_id, jobs)


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


def path_of(obj: Any) -> str:
    """The import path a worker will use to find ``obj`` again."""
    qualname = getattr(obj, "__qualname__", "")
    module = getattr(obj, "__module__", "")
    if "<locals>" in qualname:
        raise JobImportError(
            f"{module}.{qualname} is defined inside a function; a worker can only import "
            "module-level jobs"
        )
    if module == "__main__":
        raise JobImportError(
            f"{qualname} is defined in __main__; move it to a module a worker can import"
        )
    return f"{module}.{qualname}"


def job_defaults(target: Any) -> dict[str, Any]:
    """The retry/timeout settings that ``target`` sets explicitly (not inherited from Job)."""
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


def _module_allowed(module: str) -> bool:
    prefixes = [cfg.name for cfg in apps.get_app_configs()]
    prefixes += list(conf.get("JOB_MODULES"))
    return any(module == p or module.startswith(p + ".") for p in prefixes)


_resolved: dict[str, Any] = {}


def resolve(path: str) -> Any:
    """Import ``path`` and return the Job subclass or @job function it names.

    Raises :class:`JobImportError` naming the path when it cannot be imported, lies outside the
    installed apps and ``JOB_MODULES`` (nothing is imported then), or names anything else.
    Successful resolutions are remembered for the life of the process.
    """
    found = _resolved.get(path) if isinstance(path, str) else None
    if found is None:
        found = _resolve(path)
        _resolved[path] = found
    return found


def _resolve(path: str) -> Any:
    if not isinstance(path, str) or not path or path.startswith(".") or ".." in path:
        raise JobImportError(f"{path!r} is not a dotted import path")
    parts = path.split(".")
    if not all(p.isidentifier() for p in parts):
        raise JobImportError(f"{path!r} is not a dotted import path")
    # Find the longest importable module prefix, then walk attributes (nested classes).
    missing_module = ""
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        if not _module_allowed(module_name):
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
                missing_module = missing_module or module_name
                continue  # this prefix is not a module; try a shorter one
            raise JobImportError(f"importing {module_name!r} for {path!r} failed: {exc}") from exc
        except Exception as exc:
            raise JobImportError(f"importing {module_name!r} for {path!r} failed: {exc}") from exc
        obj: Any = module
        try:
            for attr in parts[split:]:
                obj = getattr(obj, attr)
        except AttributeError:
            if missing_module and len(parts) - split > 1:
                why = f"no module named {missing_module!r}"
            else:
                why = f"{module_name!r} has no {'.'.join(parts[split:])!r}"
            raise JobImportError(f"{path!r} cannot be imported: {why}") from None
        if not (is_job_class(obj) or is_job_function(obj)):
            raise JobImportError(
                f"{path!r} is not a Job subclass or a function decorated with @job"
            )
        return obj
    raise JobImportError(
        f"{path!r} cannot be imported: its module is not in an installed app or "
        "BATCHQUEUE['JOB_MODULES']"
    )
