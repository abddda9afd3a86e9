"""Records as Redis hashes and back.

Every field is a string in the hash; ``None`` is an absent field. JSON values (args, results,
context, ...) are stored as the storage's own JSON text (:func:`~django_batchqueue.serialization
.dumps`), so they read back as a database would hand them back (Decimals, datetimes and UUIDs as
strings). Times are ISO 8601 with their offset; the sorted-set indexes score them by epoch
seconds (:func:`score`). Fields the scripts keep for themselves start with ``x_``.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from ...serialization import dumps
from ..records import BatchRecord, JobRecord, NewJob, NewRun

_INT = {
    "total_jobs",
    "completed_jobs",
    "failed_jobs",
    "cancelled_jobs",
    "waiting_jobs",
    "max_concurrency",
    "position",
    "sequence",
    "attempts",
    "max_retries",
    "timeout",
}
_FLOAT = {"retry_delay"}
_BOOL = {"has_children", "allow_failures", "has_compensation"}
_JSON = {"context", "callbacks", "options", "compensation_tuning", "args", "meta", "result"}
_TIME = {"finalized_at", "created_at", "started_at", "finished_at", "updated_at", "enqueued_at"}
_UUID = {"id", "batch_id", "parent_id", "root_id", "member_id", "compensates_id"}
_JSON_DEFAULTS: dict[str, Any] = {"result": None}

BATCH_FIELDS = tuple(BatchRecord.__dataclass_fields__)
JOB_FIELDS = tuple(f for f in JobRecord.__dataclass_fields__ if f != "batch")


def score(when: datetime) -> float:
    """A time as a sorted-set score."""
    return when.timestamp()


def now_args(now: datetime) -> list[str]:
    """The ``NOW`` and ``NOWS`` arguments every script takes."""
    return [now.isoformat(), repr(now.timestamp())]


def encode_value(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if name in _JSON:
        return dumps(value)
    if name in _BOOL:
        return "1" if value else "0"
    if name in _TIME:
        return str(value.isoformat())
    if name == "created_by_id":
        return dumps(value)
    return str(value)


def decode_value(name: str, raw: str) -> Any:
    if name in _INT:
        return int(raw)
    if name in _FLOAT:
        return float(raw)
    if name in _BOOL:
        return raw == "1"
    if name in _JSON or name == "created_by_id":
        return json.loads(raw)
    if name in _TIME:
        return datetime.fromisoformat(raw)
    if name in _UUID:
        return uuid.UUID(raw)
    return raw


def encode(record: Any, fields: tuple[str, ...]) -> dict[str, str]:
    """The hash of a record (absent fields for ``None``)."""
    out = {}
    for name in fields:
        raw = encode_value(name, getattr(record, name))
        if raw is not None:
            out[name] = raw
    return out


def _decode(raw: dict[str, str], fields: tuple[str, ...]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in fields:
        if name in raw and raw[name] != "":
            values[name] = decode_value(name, raw[name])
        elif name in _UUID or name in _TIME or name in _JSON_DEFAULTS:
            values[name] = None
        elif name in _JSON:
            values[name] = {}
        elif name in raw:
            values[name] = raw[name]  # an empty string field ("" error, status, ...)
    return values


def batch_from(raw: dict[str, str]) -> BatchRecord | None:
    """The record a batch hash holds (``None`` for a missing key)."""
    if not raw:
        return None
    values = _decode(raw, BATCH_FIELDS)
    values.setdefault("compensation_status", None)
    if values["compensation_status"] == "":
        values["compensation_status"] = None
    return BatchRecord(**values)


def job_from(raw: dict[str, str], batch: BatchRecord | None = None) -> JobRecord | None:
    """The record a row hash holds (``None`` for a missing key)."""
    if not raw:
        return None
    return JobRecord(**_decode(raw, JOB_FIELDS), batch=batch)


def new_job_hash(batch_id: uuid.UUID, job: NewJob, created_at: datetime) -> dict[str, str]:
    """The hash of a member row about to be stored."""
    out = {
        "id": str(job.id),
        "batch_id": str(batch_id),
        "kind": job.kind,
        "position": str(job.position),
        "job_path": job.job_path,
        "status": job.status,
        "compensation_path": job.compensation_path,
        "compensation_tuning": job.compensation_tuning_json,
        "args": job.args_json,
        "max_retries": str(job.max_retries),
        "retry_delay": str(job.retry_delay),
        "rq_job_id": job.rq_job_id,
        "created_at": created_at.isoformat(),
        "attempts": "0",
        "sequence": "0",
    }
    if job.timeout is not None:
        out["timeout"] = str(job.timeout)
    if job.enqueued_at is not None:
        out["enqueued_at"] = job.enqueued_at.isoformat()
    return out


def new_run_hash(run: NewRun, created_at: datetime) -> dict[str, str]:
    """The hash of a callback or compensation run about to be stored."""
    record = run.as_record()
    record.created_at = created_at
    return encode(record, JOB_FIELDS)


def flatten(mapping: dict[str, str]) -> list[str]:
    """A hash as the field, value, field, value ... list HSET takes."""
    out: list[str] = []
    for key, value in mapping.items():
        out += [key, value]
    return out


def pairs(flat: list[str]) -> dict[str, str]:
    """HGETALL's reply inside a script's answer (a flat list) as a dict."""
    return dict(zip(flat[0::2], flat[1::2], strict=True))
