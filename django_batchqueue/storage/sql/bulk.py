"""Insert a batch's job rows fast: COPY on PostgreSQL, one executemany on SQLite.

Dispatching 10,000 jobs through ``bulk_create`` spends most of its time building model
instances and SQL placeholders; these paths write the same columns with the args JSON that
validation already encoded. Other backends use ``bulk_create``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import connections, router

from ...models import BatchJob
from ..records import NewJob


def _values(batch_id: Any, job: NewJob, created_at: datetime) -> dict[str, Any]:
    return {
        "id": job.id,
        "batch_id": batch_id,
        "kind": job.kind,
        "position": job.position,
        "event": "",
        "sequence": 0,
        "job_path": job.job_path,
        "compensation_path": job.compensation_path,
        "compensation_tuning": job.compensation_tuning_json,
        "compensates_id": None,
        "args": job.args_json,
        "meta": "{}",
        "status": job.status,
        "attempts": 0,
        "max_retries": job.max_retries,
        "retry_delay": job.retry_delay,
        "timeout": job.timeout,
        "result": None,
        "error": "",
        "traceback": "",
        "rq_job_id": job.rq_job_id,
        "worker_name": "",
        "created_at": created_at,
        "enqueued_at": job.enqueued_at,
        "started_at": None,
        "finished_at": None,
    }


def insert_new_jobs(batch_id: Any, jobs: Iterable[NewJob], created_at: datetime) -> None:
    """Insert ``jobs`` for ``batch_id`` in the current transaction (on PostgreSQL each row is
    written to the COPY as it is read, so rows built on the fly are never all held)."""
    if not jobs:
        return
    connection = connections[router.db_for_write(BatchJob)]
    fields = list(BatchJob._meta.concrete_fields)
    if connection.vendor not in ("postgresql", "sqlite"):
        objs = []
        for job in jobs:
            values = _values(batch_id, job, created_at)
            values["args"], values["meta"] = json.loads(job.args_json), {}
            values["compensation_tuning"] = json.loads(job.compensation_tuning_json)
            objs.append(BatchJob(**values))
        BatchJob.objects.bulk_create(objs, batch_size=1000)
        return
    q = connection.ops.quote_name
    table = q(BatchJob._meta.db_table)
    columns = ", ".join(q(str(f.column)) for f in fields)
    # JSON columns take the already-encoded text. psycopg's COPY adapts UUIDs and datetimes
    # itself; SQLite needs Django's representation (hex UUIDs, ISO datetimes), computed once per
    # distinct value since most values repeat across the rows of one batch.
    needs_prep = set()
    if connection.vendor == "sqlite":
        needs_prep = {
            f.attname
            for f in fields
            if f.get_internal_type() in ("UUIDField", "ForeignKey", "DateTimeField")
        }
    by_name = {f.attname: f for f in fields}
    memo: dict[tuple[str, Any], Any] = {}

    def prep(name: str, value: Any) -> Any:
        if value is None or name not in needs_prep:
            return value
        key = (name, value)
        if key not in memo:
            memo[key] = by_name[name].get_db_prep_save(value, connection)
        return memo[key]

    names = [f.attname for f in fields]

    def row(job: NewJob) -> list[Any]:
        values = _values(batch_id, job, created_at)
        if connection.vendor == "sqlite":
            values["id"] = job.id.hex
        return [prep(name, values[name]) if name != "id" else values[name] for name in names]

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for job in jobs:
                    copy.write_row(row(job))
        else:
            placeholders = ", ".join(["%s"] * len(fields))
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({placeholders})",
                [row(job) for job in jobs],
            )
