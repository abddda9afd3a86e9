from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BatchQueueConfig(AppConfig):
    name = "django_batchqueue"
    verbose_name = _("Batch queue")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers system checks)

        # Import the worker entry point now, in the parent process: RQ's forking worker would
        # otherwise import it again in every forked work horse (tens of ms per job).
        from .execution import runner  # noqa: F401

        _connect_task_signals()


def _connect_task_signals() -> None:
    """With ``BatchQueueBackend`` in ``TASKS``, send Django's task signals from the workers."""
    from django.conf import settings

    backends = getattr(settings, "TASKS", None) or {}
    if any(
        (params or {}).get("BACKEND") == "django_batchqueue.tasks.BatchQueueBackend"
        for params in backends.values()
    ):
        from .tasks import connect_signals

        connect_signals()
