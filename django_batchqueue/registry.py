"""The one place that turns a stored import path back into something runnable.

A worker only ever runs Job subclasses and @job functions, whatever a database row or Redis
message names, and it never imports a module outside the installed apps and
``BATCHQUEUE["JOB_MODULES"]``.
"""

from __future__ import annotations

import importlib
from typing import Any

from django.apps import apps

from . import conf
from .djtasks import is_task
from .exceptions import JobImportError
from .jobs import is_job_class, is_job_function


def path_of(obj: Any) -> str:
    """The import path a worker will use to find ``obj`` again."""
    if is_task(obj):
        obj = obj.func  # a Django @task stands in its module under its function's name
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
        if not (is_job_class(obj) or is_job_function(obj) or is_task(obj)):
            raise JobImportError(
                f"{path!r} is not a Job subclass or a function decorated with @job"
            )
        return obj
    raise JobImportError(
        f"{path!r} cannot be imported: its module is not in an installed app or "
        "BATCHQUEUE['JOB_MODULES']"
    )
