"""System checks (run by ``manage.py check`` and before ``migrate``, ``runserver``, …).

What each ``BATCHQUEUE`` key accepts lives in :mod:`.settings_schema`; this module registers the
checks and adds the project-level ones: ``django_rq`` installed, and ``rest_framework`` installed
when the REST API's URLs are mounted. Checks never raise: a broken URLconf is Django's own URL
check's to report.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.urls import URLResolver, get_resolver

from . import settings_schema

DJANGO_RQ_MISSING_ID = "django_batchqueue.E020"
REST_FRAMEWORK_MISSING_ID = "django_batchqueue.E021"

#: How the REST API's URLs are recognised in a URLconf (never imported here: it imports DRF).
API_URLCONF = "django_batchqueue.api.urls"
API_APP_NAME = "batchqueue-api"

#: Deepest ``include()`` nesting walked when looking for the API.
_MAX_DEPTH = 20


@checks.register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every ``BATCHQUEUE`` value has the type and range its key needs."""
    return settings_schema.validate(getattr(settings, "BATCHQUEUE", None), rq_queue_names())


@checks.register()
def check_django_rq(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``django_rq`` provides ``RQ_QUEUES`` connections and the ``rqworker`` command."""
    if apps.is_installed("django_rq"):
        return []
    return [
        checks.Error(
            "'django_rq' is not in INSTALLED_APPS; batch jobs are queued through it",
            hint="Add 'django_rq' to INSTALLED_APPS (it also provides `manage.py rqworker`)",
            id=DJANGO_RQ_MISSING_ID,
        )
    ]


@checks.register(checks.Tags.urls)
def check_api_dependencies(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The REST API renders through Django REST framework's templates and settings."""
    if apps.is_installed("rest_framework") or not api_is_mounted():
        return []
    return [
        checks.Error(
            f"The URLconf includes {API_URLCONF!r} but 'rest_framework' is not in INSTALLED_APPS",
            hint="Add 'rest_framework' to INSTALLED_APPS, or remove the "
            f'path("api/batchqueue/", include("{API_URLCONF}")) line',
            id=REST_FRAMEWORK_MISSING_ID,
        )
    ]


def rq_queue_names() -> set[str]:
    """The names in ``settings.RQ_QUEUES`` (none when it is missing or not a dict)."""
    queues = getattr(settings, "RQ_QUEUES", None)
    if not isinstance(queues, Mapping):
        return set()
    return {name for name in queues if isinstance(name, str)}


def api_is_mounted() -> bool:
    """Whether the root URLconf includes the REST API (False when the URLconf cannot load)."""
    if not getattr(settings, "ROOT_URLCONF", None):
        return False
    try:
        patterns = get_resolver().url_patterns
    except Exception:  # Django's own URL check reports a broken URLconf
        return False
    return _includes_api(patterns, depth=0)


def _includes_api(patterns: Iterable[Any], depth: int) -> bool:
    if depth > _MAX_DEPTH:
        return False
    try:
        resolvers = [p for p in patterns if isinstance(p, URLResolver)]
    except Exception:
        return False
    for resolver in resolvers:
        if API_APP_NAME in (resolver.app_name, resolver.namespace):
            return True
        urlconf = resolver.urlconf_name
        if urlconf == API_URLCONF or (
            isinstance(urlconf, ModuleType) and urlconf.__name__ == API_URLCONF
        ):
            return True
        try:
            nested = resolver.url_patterns
        except Exception:  # one broken include() does not hide the others
            continue
        if _includes_api(nested, depth + 1):
            return True
    return False
