"""Rows of the ``Batch`` and ``BatchJob`` tables as storage records.

Reads use ``.values(*BATCH_FIELDS)`` and build records from the dicts: the ORM's conversions
(JSON, UUIDs, datetimes) apply, without building model instances.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from ...models import Batch, BatchJob
from ..records import BatchRecord, JobRecord

#: Every column of ``Batch``, by attribute name (a foreign key by its ``_id``).
BATCH_FIELDS: tuple[str, ...] = tuple(f.attname for f in Batch._meta.concrete_fields)
#: Every column of ``BatchJob``, by attribute name.
JOB_FIELDS: tuple[str, ...] = tuple(f.attname for f in BatchJob._meta.concrete_fields)
#: What a progress read or a listing needs of a batch (no context, options or callbacks).
SUMMARY_FIELDS: tuple[str, ...] = tuple(
    f for f in BATCH_FIELDS if f not in ("context", "options", "callbacks")
)
#: Columns a job table leaves out (tracebacks can be large).
JOB_LIST_FIELDS: tuple[str, ...] = tuple(f for f in JOB_FIELDS if f != "traceback")


def batch_record(values: dict[str, Any]) -> BatchRecord:
    return BatchRecord(**values)


def job_record(values: dict[str, Any], batch: BatchRecord | None = None) -> JobRecord:
    return JobRecord(**values, batch=batch)


def batches(queryset: QuerySet[Batch], fields: tuple[str, ...] = BATCH_FIELDS) -> list[BatchRecord]:
    return [BatchRecord(**values) for values in queryset.values(*fields)]


def jobs(queryset: QuerySet[BatchJob], fields: tuple[str, ...] = JOB_FIELDS) -> list[JobRecord]:
    return [JobRecord(**values) for values in queryset.values(*fields)]


def first_job(queryset: QuerySet[BatchJob]) -> JobRecord | None:
    found = queryset.values(*JOB_FIELDS)[:1]
    return JobRecord(**found[0]) if found else None


def job_model(record: JobRecord) -> BatchJob:
    """A ``BatchJob`` instance for ``record`` (for the few ORM writes that need one)."""
    values = {name: getattr(record, name) for name in JOB_FIELDS}
    return BatchJob(**values)
