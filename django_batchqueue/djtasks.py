"""Django's Tasks framework, wherever it comes from: ``django.tasks`` (Django 6) or the
``django_tasks`` backport (Django 5.2). ``AVAILABLE`` says whether either is installed.

Only this module imports them; the rest of the package asks :func:`is_task`. The names are
typed ``Any``: they come from one of two packages whose types differ only in their module.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Where each name used here is found.
_WHERE: dict[str, tuple[str, str, str]] = {
    # name: (Django 6 module, backport module, name in the backport)
    "Task": ("django.tasks", "django_tasks.base", "Task"),
    "TaskContext": ("django.tasks", "django_tasks", "TaskContext"),
    "TaskResult": ("django.tasks", "django_tasks", "TaskResult"),
    "TaskResultStatus": ("django.tasks", "django_tasks", "TaskResultStatus"),
    "TaskError": ("django.tasks.base", "django_tasks.base", "TaskError"),
    "BaseTaskBackend": (
        "django.tasks.backends.base",
        "django_tasks.backends.base",
        "BaseTaskBackend",
    ),
    "InvalidTask": ("django.tasks.exceptions", "django_tasks.exceptions", "InvalidTaskError"),
    "TaskResultDoesNotExist": (
        "django.tasks.exceptions",
        "django_tasks.exceptions",
        "TaskResultDoesNotExist",
    ),
    "task_enqueued": ("django.tasks.signals", "django_tasks.signals", "task_enqueued"),
    "task_started": ("django.tasks.signals", "django_tasks.signals", "task_started"),
    "task_finished": ("django.tasks.signals", "django_tasks.signals", "task_finished"),
}


def _load() -> dict[str, Any] | None:
    for which in (0, 1):
        try:
            return {
                name: getattr(importlib.import_module(where[which]), where[2] if which else name)
                for name, where in _WHERE.items()
            }
        except ImportError:
            continue
    return None


_found = _load()
AVAILABLE = _found is not None
_names: dict[str, Any] = _found or dict.fromkeys(_WHERE)

Task: Any = _names["Task"]
TaskContext: Any = _names["TaskContext"]
TaskResult: Any = _names["TaskResult"]
TaskResultStatus: Any = _names["TaskResultStatus"]
TaskError: Any = _names["TaskError"]
BaseTaskBackend: Any = _names["BaseTaskBackend"]
InvalidTask: Any = _names["InvalidTask"]
TaskResultDoesNotExist: Any = _names["TaskResultDoesNotExist"]
task_enqueued: Any = _names["task_enqueued"]
task_started: Any = _names["task_started"]
task_finished: Any = _names["task_finished"]


def is_task(obj: Any) -> bool:
    """Whether ``obj`` is a function decorated with Django's ``@task``."""
    return AVAILABLE and isinstance(obj, Task)


__all__ = [
    "AVAILABLE",
    "BaseTaskBackend",
    "InvalidTask",
    "Task",
    "TaskContext",
    "TaskError",
    "TaskResult",
    "TaskResultDoesNotExist",
    "TaskResultStatus",
    "is_task",
    "task_enqueued",
    "task_finished",
    "task_started",
]
