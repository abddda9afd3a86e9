"""JSON checks that name the offending key, so bad input is refused before anything is stored."""

from __future__ import annotations

import math
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from . import conf
from .exceptions import PayloadTooLarge, SerializationError

_ENCODER = DjangoJSONEncoder(allow_nan=False, separators=(",", ":"))


def dumps(value: Any) -> str:
    """Encode with Django's JSON encoder (datetimes, Decimals, UUIDs), refusing NaN/Infinity."""
    return _ENCODER.encode(value)


def check_json(value: Any, label: str, *, limit_size: bool = True) -> str:
    """Raise :class:`SerializationError` naming the first bad key of ``value``; return its JSON.

    ``label`` says where the value came from (``"jobs[3].args"``); the error appends the key path.
    Also refuses NUL characters (PostgreSQL's jsonb cannot store them) and payloads above
    ``MAX_PAYLOAD_BYTES``.
    """
    try:
        encoded = dumps(value)
    except (TypeError, ValueError, OverflowError):
        where, why = _find_bad(value, label)
        raise SerializationError(
            f"{where} is not JSON-serializable: {why or 'unsupported value'}"
        ) from None
    if "\\u0000" in encoded:
        where, _ = _find_bad(value, label, nul=True)
        raise SerializationError(f"{where} contains a NUL character, which cannot be stored")
    size = len(encoded)
    limit = conf.get("MAX_PAYLOAD_BYTES") if limit_size else None
    if limit and size > limit:
        raise PayloadTooLarge(
            f"{label} is {size} bytes of JSON, above BATCHQUEUE['MAX_PAYLOAD_BYTES'] ({limit})"
        )
    return encoded


def _find_bad(value: Any, path: str, nul: bool = False) -> tuple[str, str]:
    """Walk ``value`` and return (path, reason) for the first element that cannot be encoded."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str | int | float | bool) and key is not None:
                return f"{path}[{key!r}]", f"key of type {type(key).__name__}"
            sub = _find_bad(item, f"{path}[{key!r}]", nul)
            if sub[1]:
                return sub
        return path, ""
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            sub = _find_bad(item, f"{path}[{index}]", nul)
            if sub[1]:
                return sub
        return path, ""
    if isinstance(value, str):
        return (path, "NUL character") if nul and "\x00" in value else (path, "")
    if isinstance(value, float) and not math.isfinite(value):
        return path, f"{value!r} is not valid JSON"
    if nul:
        return path, ""
    try:
        dumps(value)
    except (TypeError, ValueError, OverflowError):
        return path, f"object of type {type(value).__name__}"
    return path, ""
