"""What each ``BATCHQUEUE`` key accepts, as one validator per key (run by ``checks.py``).

A validator takes the key, the configured value and the ``RQ_QUEUES`` names, and returns check
messages that name the key and the bad value. Keys the user did not set keep their defaults,
which are valid by construction; only ``DEFAULT_QUEUE`` is checked either way, since its
default must still exist in ``RQ_QUEUES``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from typing import Any

from django.core import checks
from django.utils.module_loading import import_string

from . import conf

Messages = list[checks.CheckMessage]
Validator = Callable[[str, Any, Collection[str]], Messages]

#: The check id of each key (one id per key: the message says what is wrong with it).
KEY_IDS: dict[str, str] = {
    "DEFAULT_QUEUE": "django_batchqueue.E001",
    "NAMED_QUEUES": "django_batchqueue.E002",
    "STORAGE": "django_batchqueue.E003",
    "MAX_PAYLOAD_BYTES": "django_batchqueue.E004",
    "JOB_MODULES": "django_batchqueue.E005",
    "TIMEOUT_GRACE": "django_batchqueue.E006",
    "RQ_FAILURE_TTL": "django_batchqueue.E007",
    "RECONCILE_GRACE": "django_batchqueue.E008",
    "RECONCILE_LIMIT": "django_batchqueue.E009",
    "RECONCILE_INTERVAL": "django_batchqueue.E010",
    "WORKER_HEARTBEAT_TTL": "django_batchqueue.E011",
    "ASYNC_JOB_COMMITS": "django_batchqueue.E012",
    "API_PERMISSION_CLASSES": "django_batchqueue.E013",
    "API_USERS_SEE_OWN_BATCHES": "django_batchqueue.E014",
    "RELEASE_WINDOW": "django_batchqueue.E016",
    "HORSE_MAX_JOBS": "django_batchqueue.E017",
    "REDIS_STORAGE_URL": "django_batchqueue.E018",
    "REDIS_TTL": "django_batchqueue.E019",
}
NOT_A_DICT_ID = "django_batchqueue.E015"
UNKNOWN_KEY_ID = "django_batchqueue.W001"

#: Longest repr of a bad value quoted in a message.
_SHOWN_CHARS = 120


def validate(user: Any, rq_queues: Collection[str]) -> Messages:
    """Check messages for the ``BATCHQUEUE`` setting ``user`` (``None`` when it is not set)."""
    if user is None:
        user = {}
    if not isinstance(user, Mapping):
        return [
            checks.Error(
                f"BATCHQUEUE is {_shown(user)}; it must be a dict",
                hint='For example BATCHQUEUE = {"DEFAULT_QUEUE": "batchjob"}, or leave it out',
                id=NOT_A_DICT_ID,
            )
        ]
    messages: Messages = []
    for key in sorted((k for k in user if k not in conf.DEFAULTS), key=repr):
        messages.append(
            checks.Warning(
                f"BATCHQUEUE has an unknown key {key!r}",
                hint=f"Known keys: {', '.join(sorted(conf.DEFAULTS))}",
                id=UNKNOWN_KEY_ID,
            )
        )
    for key, validator in VALIDATORS.items():
        if key in user:
            messages += validator(key, user[key], rq_queues)
        elif key == "DEFAULT_QUEUE":
            messages += validator(key, conf.DEFAULTS[key], rq_queues)
    return messages


# -- helpers -------------------------------------------------------------------------------------


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


def _error(key: str, value: Any, problem: str, hint: str) -> checks.Error:
    return checks.Error(
        f"BATCHQUEUE[{key!r}] is {_shown(value)}; {problem}", hint=hint, id=KEY_IDS[key]
    )


def _queue_hint(name: str, rq_queues: Collection[str]) -> str:
    known = ", ".join(repr(q) for q in sorted(rq_queues)) or "none"
    return (
        f"Add RQ_QUEUES[{name!r}] = {{'URL': 'redis://localhost:6379/0'}}, or name one of the "
        f"configured queues ({known})"
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _finite(number: float) -> bool:
    return isinstance(number, int) or math.isfinite(number)  # huge ints overflow isfinite()


def _is_dotted_name(value: Any) -> bool:
    return isinstance(value, str) and all(part.isidentifier() for part in value.split("."))


# -- validators, one per key ---------------------------------------------------------------------


def _default_queue(key: str, value: Any, rq_queues: Collection[str]) -> Messages:
    if not isinstance(value, str) or not value:
        return [
            _error(
                key,
                value,
                "it must be the name (a string) of an RQ_QUEUES entry",
                f"For example BATCHQUEUE[{key!r}] = 'batchjob', with RQ_QUEUES['batchjob'] set",
            )
        ]
    if value not in rq_queues:
        return [
            checks.Error(
                f"BATCHQUEUE[{key!r}] is {value!r}, which is not in RQ_QUEUES",
                hint=_queue_hint(value, rq_queues),
                id=KEY_IDS[key],
            )
        ]
    return []


def _named_queues(key: str, value: Any, rq_queues: Collection[str]) -> Messages:
    if value is None:
        return []
    if not isinstance(value, Mapping):
        return [
            _error(
                key,
                value,
                "it must be a dict of .queue() names to RQ_QUEUES names",
                f"For example BATCHQUEUE[{key!r}] = {{'email-processing': 'email-chain'}}",
            )
        ]
    messages: Messages = []
    for name, rq_name in value.items():
        where = f"BATCHQUEUE[{key!r}][{_shown(name)}]"
        if not isinstance(name, str) or not name:
            messages.append(
                checks.Error(
                    f"BATCHQUEUE[{key!r}] has the name {_shown(name)}; names must be "
                    "non-empty strings",
                    hint="Use the string you pass to .queue(name)",
                    id=KEY_IDS[key],
                )
            )
        elif not isinstance(rq_name, str) or not rq_name:
            messages.append(
                checks.Error(
                    f"{where} is {_shown(rq_name)}; it must be the name (a string) of an "
                    "RQ_QUEUES entry",
                    hint=f"For example {{{name!r}: 'batchjob'}}",
                    id=KEY_IDS[key],
                )
            )
        elif rq_name not in rq_queues:
            messages.append(
                checks.Error(
                    f"{where} is {rq_name!r}, which is not in RQ_QUEUES",
                    hint=_queue_hint(rq_name, rq_queues),
                    id=KEY_IDS[key],
                )
            )
    return messages


def _storage(key: str, value: Any, rq_queues: Collection[str]) -> Messages:
    """An alias of a built-in backend or the dotted path of a class implementing the storage
    interface; then the backend's own ``check()``."""
    from django.core.exceptions import ImproperlyConfigured

    from .storage import ALIASES, _instance

    try:
        backend = _instance(value)
    except (ImproperlyConfigured, TypeError) as exc:
        aliases = ", ".join(repr(a) for a in sorted(ALIASES))
        return [
            _error(
                key,
                value,
                str(exc).split(": ", 1)[-1] if "cannot import" in str(exc) else "not a backend",
                f"Use one of {aliases}, or the dotted path of a storage class",
            )
        ]
    return list(backend.check())


def _positive_int(key: str, value: Any, what: str, example: int) -> Messages:
    if _is_int(value) and value > 0:
        return []
    return [_error(key, value, f"it must be a positive integer ({what})", f"For example {example}")]


def _max_payload_bytes(key: str, value: Any, rq_queues: Collection[str]) -> Messages:
    return _positive_int(key, value, "bytes of JSON", conf.DEFAULTS[key])


def _reconcile_limit(key: str, value: Any, rq_queues: Collection[str]) -> Messages:
    return _positive_int(key, value, "rows looked at per step", conf.DEFAULTS[key])


def _horse_max_jobs(key: str, value: Any, rq_queues: Collection[str]) -> Messages:
    return _positive_int(key, value, "jobs per work horse", conf.DEFAULTS[key])


def _rq_failure_ttl(key: str, value: Any, rq_queues: Collection[str]) -> Messages:
    if _is_int(value) and (value > 0 or value == -1):  # -1: RQ keeps failed RQ jobs forever
        return []
    return [
        _error(
            key,
            value,
            "it must be a positive integer of seconds, or -1 to keep failed RQ jobs forever",
            f"For example {conf.DEFAULTS[key]} (one day)",
        )
    ]


def _seconds(*, zero_ok: bool) -> Validator:
    """A validator for a finite number of seconds: ``>= 0`` with ``zero_ok``, else ``> 0``."""
    bound = "a number of seconds, 0 or more" if zero_ok else "a number of seconds above 0"

    def validator(key: str, value: Any, rq_queues: Collection[str]) -> Messages:
        if _is_number(value) and _finite(value) and (value >= 0 if zero_ok else value > 0):
            return []
        return [_error(key, value, f"it must be {bound}", f"For example {conf.DEFAULTS[key]}")]

    return validator


def _redis_url(key: str, value: Any, rq_queues: Collection[str]) -> Messages:
    if value is None or (
        isinstance(value, str) and value.startswith(("redis://", "rediss://", "unix://"))
    ):
        return []
    return [
        _error(
            key,
            value,
            "it must be a Redis URL (redis://, rediss:// or unix://) or None",
            "For example 'redis://127.0.0.1:6379/2'; None uses the default queue's Redis",
        )
    ]


def _redis_ttl(key: str, value: Any, rq_queues: Collection[str]) -> Messages:
    if value is None or (_is_int(value) and value >= 0):
        return []
    return [
        _error(
            key,
            value,
            "it must be a whole number of seconds, 0 or more, or None (0/None: keep until pruned)",
            f"For example {conf.DEFAULTS[key]} (7 days)",
        )
    ]


def _boolean(key: str, value: Any, rq_queues: Collection[str]) -> Messages:
    if isinstance(value, bool):
        return []
    return [_error(key, value, "it must be True or False", f"The default is {conf.DEFAULTS[key]}")]


def _job_modules(key: str, value: Any, rq_queues: Collection[str]) -> Messages:
    if isinstance(value, str):
        return [
            _error(
                key,
                value,
                "it must be a list of module prefixes, not a single string",
                f"Write BATCHQUEUE[{key!r}] = [{value!r}]",
            )
        ]
    if not isinstance(value, list | tuple):
        return [
            _error(
                key,
                value,
                "it must be a list of module prefixes (dotted names)",
                f"For example BATCHQUEUE[{key!r}] = ['shop', 'billing.tasks']",
            )
        ]
    return [
        _error(
            key,
            value,
            f"its entry {_shown(entry)} is not a dotted module name",
            "Each entry is a module prefix such as 'shop' or 'billing.tasks'",
        )
        for entry in value
        if not _is_dotted_name(entry)
    ]


def _api_permission_classes(key: str, value: Any, rq_queues: Collection[str]) -> Messages:
    if not isinstance(value, list | tuple):
        hint = (
            f"Write BATCHQUEUE[{key!r}] = [{value!r}]"
            if isinstance(value, str)
            else f"For example BATCHQUEUE[{key!r}] = ['rest_framework.permissions.IsAdminUser']"
        )
        return [_error(key, value, "it must be a list of DRF permission classes", hint)]
    messages: Messages = []
    for entry in value:
        if isinstance(entry, type):
            continue
        if not _is_dotted_name(entry) or "." not in entry:
            messages.append(
                _error(
                    key,
                    value,
                    f"its entry {_shown(entry)} is not a dotted path to a permission class",
                    "For example 'rest_framework.permissions.IsAuthenticated'",
                )
            )
            continue
        try:
            found = import_string(entry)
        except Exception as exc:  # any import failure is the user's to see, not a crash
            messages.append(
                _error(
                    key,
                    value,
                    f"its entry {entry!r} cannot be imported ({type(exc).__name__}: {exc})",
                    "Check the module and class name of each permission class",
                )
            )
            continue
        if not callable(found):
            messages.append(
                _error(
                    key,
                    value,
                    f"its entry {entry!r} names {_shown(found)}, not a permission class",
                    "Name a DRF permission class (a BasePermission subclass)",
                )
            )
    return messages


def _release_window(key: str, value: Any, rq_queues: Collection[str]) -> Messages:
    if value is None:
        return []  # release every job at dispatch
    return _positive_int(key, value, "jobs queued or running per batch, or None", 100)


VALIDATORS: dict[str, Validator] = {
    "DEFAULT_QUEUE": _default_queue,
    "NAMED_QUEUES": _named_queues,
    "STORAGE": _storage,
    "REDIS_STORAGE_URL": _redis_url,
    "REDIS_TTL": _redis_ttl,
    "MAX_PAYLOAD_BYTES": _max_payload_bytes,
    "JOB_MODULES": _job_modules,
    "TIMEOUT_GRACE": _seconds(zero_ok=True),
    "RQ_FAILURE_TTL": _rq_failure_ttl,
    "RECONCILE_GRACE": _seconds(zero_ok=True),
    "RECONCILE_LIMIT": _reconcile_limit,
    "RECONCILE_INTERVAL": _seconds(zero_ok=False),
    "WORKER_HEARTBEAT_TTL": _seconds(zero_ok=False),
    "ASYNC_JOB_COMMITS": _boolean,
    "API_PERMISSION_CLASSES": _api_permission_classes,
    "API_USERS_SEE_OWN_BATCHES": _boolean,
    "RELEASE_WINDOW": _release_window,
    "HORSE_MAX_JOBS": _horse_max_jobs,
}
