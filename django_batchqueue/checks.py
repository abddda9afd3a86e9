"""System checks for BATCHQUEUE and RQ_QUEUES (run by ``manage.py check`` and at startup)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from . import conf


@checks.register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    user = getattr(settings, "BATCHQUEUE", None) or {}
    rq_queues = set(getattr(settings, "RQ_QUEUES", {}) or {})
    for key in sorted(set(user) - set(conf.DEFAULTS)):
        errors.append(
            checks.Warning(
                f"BATCHQUEUE has an unknown key {key!r}",
                id="django_batchqueue.W001",
                hint=f"Known keys: {', '.join(sorted(conf.DEFAULTS))}",
            )
        )
    default = conf.get("DEFAULT_QUEUE")
    if default not in rq_queues:
        errors.append(
            checks.Error(
                f"BATCHQUEUE['DEFAULT_QUEUE'] is {default!r}, which is not in RQ_QUEUES",
                id="django_batchqueue.E001",
                hint=f"Add RQ_QUEUES[{default!r}] = {{'URL': 'redis://localhost:6379/0'}}",
            )
        )
    named = conf.get("NAMED_QUEUES") or {}
    if not isinstance(named, dict):
        errors.append(
            checks.Error("BATCHQUEUE['NAMED_QUEUES'] must be a dict", id="django_batchqueue.E002")
        )
    else:
        for name, rq_name in sorted(named.items()):
            if rq_name not in rq_queues:
                errors.append(
                    checks.Error(
                        f"BATCHQUEUE['NAMED_QUEUES'][{name!r}] is {rq_name!r}, which is not in "
                        "RQ_QUEUES",
                        id="django_batchqueue.E002",
                    )
                )
    if conf.get("STORAGE") != "sql":
        errors.append(
            checks.Error(
                f"BATCHQUEUE['STORAGE'] is {conf.get('STORAGE')!r}; this release supports 'sql'",
                id="django_batchqueue.E003",
            )
        )
    return errors
