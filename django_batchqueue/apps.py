from __future__ import annotations

from django.apps import AppConfig


class BatchQueueConfig(AppConfig):
    name = "django_batchqueue"
    verbose_name = "Batch queue"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers system checks)
