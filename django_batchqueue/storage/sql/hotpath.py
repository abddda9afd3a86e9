"""The statements every job run makes, written to cost one round trip each.

A worker claims a row and loads it with its batch (``claim_and_load``), and records a parallel
job's success together with the batch counter (``complete_and_count``). Through the ORM these
take seven round trips; here they take two on PostgreSQL (``UPDATE ... FROM ... RETURNING`` and
a data-modifying CTE) and a few in-process calls on SQLite (``RETURNING``, SQLite >= 3.35).
A chain step's ending and hand-off (``complete_member``, ``queue_next_step``) take one
statement each on PostgreSQL instead of six. Other backends use the portable ORM versions.
Values go through the model fields' own conversions, so the records returned hold what the ORM
would have read.
"""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any

from django.db import connections, router, transaction
from django.db.models import F, Field, Model
from django.utils import timezone

from ... import conf
from ...models import Batch, BatchJob
from ...states import JobKind, JobStatus
from ..records import BatchRecord, Counts, JobRecord, NextStep
from . import convert, transitions


def _fields(model: type[Model]) -> list[Any]:
    return [f for f in model._meta.concrete_fields]


@cache
def _converters(model: type[Model], vendor: str, alias: str) -> list[tuple[Any, list[Any]]]:
    connection = connections[alias]
    out = []
    for field in _fields(model):
        col = field.get_col(model._meta.db_table)
        convs = connection.ops.get_db_converters(col) + field.get_db_converters(connection)
        out.append((col, convs))
    return out


def _build(model: type[Model], alias: str, values: list[Any]) -> dict[str, Any]:
    """Raw column values as ``{attname: value}``, converted as the ORM's compiler does."""
    connection = connections[alias]
    converted = {}
    for field, (col, convs), value in zip(
        _fields(model), _converters(model, connection.vendor, alias), values, strict=True
    ):
        for conv in convs:
            value = conv(value, col, connection)
        converted[field.attname] = value
    return converted


@cache
def _field(model: type[Model], name: str) -> Field[Any, Any]:
    found = model._meta.get_field(name)
    assert isinstance(found, Field)
    return found


def _prep(model: type[Model], field: str, value: Any, connection: Any) -> Any:
    return _field(model, field).get_db_prep_save(value, connection)


@cache
def _cols(model: type[Model], alias: str, prefix: str = "") -> str:
    q = connections[alias].ops.quote_name
    return ", ".join(f"{prefix}{q(f.column)}" for f in _fields(model))


#: A CTE that makes the statement's own (autocommit) transaction commit asynchronously.
ASYNC_COMMIT_CTE = "async_commit AS (SELECT set_config('synchronous_commit', 'off', true))"


@cache
def _claim_sql(
    alias: str, vendor: str, with_rq_filter: bool, async_commit: bool
) -> tuple[str, str]:
    """(claim statement, batch select) for this database; the select is "" on PostgreSQL."""
    q = connections[alias].ops.quote_name
    job_t, batch_t = q(BatchJob._meta.db_table), q(Batch._meta.db_table)
    sets = (
        "status = %s, attempts = j.attempts + 1, started_at = %s, finished_at = NULL, "
        "worker_name = %s"
    )
    rq_filter = "AND j.rq_job_id = %s" if with_rq_filter else ""
    if vendor == "postgresql":
        # With async_commit the claim skips the WAL flush, most of its cost. A server crash
        # could undo it (and whatever was committed after it): the row reads "queued" again
        # and reconciliation re-runs it. Nothing that decides a callback depends on it.
        cte, extra = (f"WITH {ASYNC_COMMIT_CTE} ", ", async_commit") if async_commit else ("", "")
        return (
            f"{cte}UPDATE {job_t} AS j SET {sets} FROM {batch_t} AS b{extra} "
            f"WHERE j.id = %s AND j.status = %s {rq_filter} AND b.id = j.batch_id "
            f"RETURNING {_cols(BatchJob, alias, 'j.')}, {_cols(Batch, alias, 'b.')}",
            "",
        )
    return (
        f"UPDATE {job_t} AS j SET {sets} WHERE j.id = %s AND j.status = %s {rq_filter} "
        f"RETURNING {_cols(BatchJob, alias)}",
        f"SELECT {_cols(Batch, alias)} FROM {batch_t} WHERE id = %s",
    )


@cache
def _complete_sql(alias: str, vendor: str, async_commit: bool) -> tuple[str, str]:
    """(finish, count) statements; on PostgreSQL one CTE does both and count is ""."""
    q = connections[alias].ops.quote_name
    batch_t = q(Batch._meta.db_table)
    finish = _finish_sql(alias)
    returning = (
        "RETURNING total_jobs, completed_jobs, failed_jobs, cancelled_jobs, status, waiting_jobs"
    )
    if vendor == "postgresql":
        # One statement: the counter moves only if this statement completed the job. With
        # async_commit a server crash may undo it, and the job is re-run; the batch can only
        # settle (the callbacks' decision) in a later, synchronous commit, which flushes this.
        cte, extra = (f"{ASYNC_COMMIT_CTE}, ", ", async_commit") if async_commit else ("", "")
        return (
            f"WITH {cte}done AS ({finish} RETURNING batch_id) "
            f"UPDATE {batch_t} AS b SET completed_jobs = b.completed_jobs + 1, "
            f"updated_at = %s FROM done{extra} WHERE b.id = done.batch_id {returning}",
            "",
        )
    return (
        finish,
        f"UPDATE {batch_t} SET completed_jobs = completed_jobs + 1, updated_at = %s "
        f"WHERE id = %s {returning}",
    )


@cache
def _finish_sql(alias: str) -> str:
    """running -> completed for the run a record describes (``_finish_params`` fills it)."""
    job_t = connections[alias].ops.quote_name(BatchJob._meta.db_table)
    return (
        f"UPDATE {job_t} SET status = %s, result = %s, finished_at = %s "
        f"WHERE id = %s AND status = %s AND rq_job_id = %s"
    )


def _finish_params(row: JobRecord, result: Any, now: Any, connection: Any) -> list[Any]:
    return [
        JobStatus.COMPLETED,
        _prep(BatchJob, "result", result, connection),
        _prep(BatchJob, "finished_at", now, connection),
        _prep(BatchJob, "id", row.id, connection),
        JobStatus.RUNNING,
        row.rq_job_id,
    ]


def _connection() -> tuple[Any, bool]:
    connection = connections[router.db_for_write(BatchJob)]
    return connection, connection.vendor in ("postgresql", "sqlite")


def claim_and_load(row_id: Any, rq_job_id: str | None, worker: str) -> JobRecord | None:
    """queued -> running for this RQ job, returning the row with its batch; else None."""
    connection, fast = _connection()
    now = timezone.now()
    if not fast:
        return _claim_and_load_orm(row_id, rq_job_id, worker, now)
    params = [
        _prep(BatchJob, "status", JobStatus.RUNNING, connection),
        _prep(BatchJob, "started_at", now, connection),
        worker[:255],
        _prep(BatchJob, "id", row_id, connection),
        JobStatus.QUEUED,
    ]
    if rq_job_id:
        params.append(rq_job_id)
    alias = connection.alias
    claim_sql, batch_sql = _claim_sql(alias, connection.vendor, bool(rq_job_id), _async_commits())
    n_job = len(_fields(BatchJob))
    with connection.cursor() as cursor:
        if not batch_sql:
            cursor.execute(claim_sql, params)
            found = cursor.fetchone()
            if found is None:
                return None
            job_values, batch_values = list(found[:n_job]), list(found[n_job:])
        else:
            with transaction.atomic(using=alias):
                cursor.execute(claim_sql, params)
                found = cursor.fetchone()
                if found is None:
                    return None
                job_values = list(found)
                cursor.execute(batch_sql, [job_values[_index(BatchJob, "batch_id")]])
                batch_values = list(cursor.fetchone())
    return JobRecord(
        **_build(BatchJob, alias, job_values),
        batch=BatchRecord(**_build(Batch, alias, batch_values)),
    )


def _claim_and_load_orm(
    row_id: Any, rq_job_id: str | None, worker: str, now: Any
) -> JobRecord | None:
    """The portable claim for other databases: the same conditional UPDATE, then a read."""
    with transaction.atomic():
        qs = BatchJob.objects.filter(pk=row_id, status=JobStatus.QUEUED)
        if rq_job_id:
            qs = qs.filter(rq_job_id=rq_job_id)
        won = qs.update(
            status=JobStatus.RUNNING,
            attempts=F("attempts") + 1,
            started_at=now,
            finished_at=None,
            worker_name=worker[:255],
        )
        if not won:
            return None
        row = convert.first_job(BatchJob.objects.filter(pk=row_id))
        assert row is not None
        batch = convert.batches(Batch.objects.filter(pk=row.batch_id))
        row.batch = batch[0]
        return row


def complete_and_count(row: JobRecord, result: Any) -> Counts | None:
    """running -> completed and completed_jobs + 1, atomically; None if it was not running."""
    connection, fast = _connection()
    now = timezone.now()
    if not fast:
        with transaction.atomic(using=connection.alias):
            if not transitions.finish(row, JobStatus.COMPLETED, result=result):
                return None
            Batch.objects.filter(pk=row.batch_id).update(
                completed_jobs=F("completed_jobs") + 1, updated_at=now
            )
            b = (
                Batch.objects.filter(pk=row.batch_id)
                .values_list(
                    "total_jobs",
                    "completed_jobs",
                    "failed_jobs",
                    "cancelled_jobs",
                    "status",
                    "waiting_jobs",
                )
                .get()
            )
            return Counts(*b)
    job_params = _finish_params(row, result, now, connection)
    batch_now = _prep(Batch, "updated_at", now, connection)
    finish_sql, count_sql = _complete_sql(connection.alias, connection.vendor, _async_commits())
    with connection.cursor() as cursor:
        if not count_sql:
            cursor.execute(finish_sql, [*job_params, batch_now])
            found = cursor.fetchone()
        else:
            with transaction.atomic(using=connection.alias):
                cursor.execute(finish_sql, job_params)
                if cursor.rowcount != 1:
                    return None
                cursor.execute(count_sql, [batch_now, _prep(Batch, "id", row.batch_id, connection)])
                found = cursor.fetchone()
    if found is None:
        return None
    row.status = JobStatus.COMPLETED
    return Counts(*found)


@cache
def _complete_member_sql(alias: str, with_context: bool) -> str:
    """PostgreSQL: a member row completed and counted, with the batch row returned."""
    batch_t = connections[alias].ops.quote_name(Batch._meta.db_table)
    context = ", context = %s" if with_context else ""
    return (
        f"WITH done AS ({_finish_sql(alias)} RETURNING batch_id) "
        f"UPDATE {batch_t} AS b SET completed_jobs = b.completed_jobs + 1, updated_at = %s"
        f"{context} FROM done WHERE b.id = done.batch_id RETURNING {_cols(Batch, alias, 'b.')}"
    )


def complete_member(
    row: JobRecord, result: Any, context: dict[str, Any] | None = None
) -> BatchRecord | None:
    """running -> completed, counted (and a chain's context stored), returning the batch row:
    one statement on PostgreSQL (``finish`` + ``count`` + ``get_batch`` are three)."""
    connection, _ = _connection()
    now = timezone.now()
    params = [
        *_finish_params(row, result, now, connection),
        _prep(Batch, "updated_at", now, connection),
    ]
    if context is not None:
        params.append(_prep(Batch, "context", context, connection))
    with connection.cursor() as cursor:
        cursor.execute(_complete_member_sql(connection.alias, context is not None), params)
        found = cursor.fetchone()
    if found is None:
        return None
    row.status = JobStatus.COMPLETED
    return BatchRecord(**_build(Batch, connection.alias, list(found)))


@cache
def _next_step_sql(alias: str, async_commit: bool) -> str:
    """PostgreSQL: a chain's first pending member, queued if it is a job, and the batch's
    ``waiting_jobs`` moved, in one statement; with ``async_commit`` (only when it queued a job)
    the transaction commits without waiting for the WAL flush."""
    q = connections[alias].ops.quote_name
    job_t, batch_t = q(BatchJob._meta.db_table), q(Batch._meta.db_table)
    quick, quick_col, quick_join = "", "", ""
    if async_commit:
        quick = ", quick AS (SELECT set_config('synchronous_commit', 'off', true) AS v FROM queued)"
        quick_col, quick_join = ", quick.v", " LEFT JOIN quick ON true"
    return (
        # One ordered index range per member kind (members all have sequence 0): an IN over
        # the kinds would read and sort every pending row of a long chain at every step.
        f"WITH nxt AS (SELECT id, kind, timeout FROM ("
        f"(SELECT id, kind, timeout, position FROM {job_t} WHERE batch_id = %s AND kind = %s "
        f"AND status = %s ORDER BY position LIMIT 1) UNION ALL "
        f"(SELECT id, kind, timeout, position FROM {job_t} WHERE batch_id = %s AND kind = %s "
        f"AND status = %s ORDER BY position LIMIT 1)) AS first ORDER BY position LIMIT 1), "
        f"queued AS (UPDATE {job_t} AS j SET status = %s, rq_job_id = %s, enqueued_at = %s, "
        f"meta = %s FROM nxt WHERE j.id = nxt.id AND nxt.kind = %s AND j.status = %s "
        f"RETURNING j.id), "
        f"counted AS (UPDATE {batch_t} AS b SET waiting_jobs = b.waiting_jobs - 1, "
        f"updated_at = %s FROM queued WHERE b.id = %s RETURNING b.id){quick} "
        f"SELECT nxt.id, nxt.kind, nxt.timeout, queued.id{quick_col} FROM nxt "
        f"LEFT JOIN queued ON true{quick_join}"
    )


def queue_next_step(
    batch_id: Any, rq_job_id: str, meta: dict[str, Any], *, durable: bool = True
) -> NextStep:
    """The chain's first pending member, queued if it is a job: one statement on PostgreSQL
    (``first_pending`` + ``queue_pending`` + ``count`` are three). ``durable=False`` (a
    hand-off that decides nothing else) commits asynchronously with ``ASYNC_JOB_COMMITS``: a
    server crash can only undo it together with the step's completion, which is then re-run."""
    connection, _ = _connection()
    now = timezone.now()
    batch_pk = _prep(Batch, "id", batch_id, connection)
    params = [
        batch_pk,
        JobKind.JOB,
        JobStatus.PENDING,
        batch_pk,
        JobKind.BATCH,
        JobStatus.PENDING,
        JobStatus.QUEUED,
        rq_job_id,
        _prep(BatchJob, "enqueued_at", now, connection),
        _prep(BatchJob, "meta", meta, connection),
        JobKind.JOB,
        JobStatus.PENDING,
        _prep(Batch, "updated_at", now, connection),
        batch_pk,
    ]
    sql = _next_step_sql(connection.alias, not durable and _async_commits())
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchone()
    if found is None:
        return NextStep()
    row_id, kind, timeout, queued = found[:4]
    return NextStep(_as_uuid(row_id), kind, queued is not None, timeout)


def _as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def one_statement_steps() -> bool:
    """Whether :func:`complete_member` and :func:`queue_next_step` can be used (PostgreSQL)."""
    return _connection()[0].vendor == "postgresql"


@cache
def _index(model: type[Model], attname: str) -> int:
    return [f.attname for f in _fields(model)].index(attname)


def warm_up() -> None:
    """Build the cached statements and field converters now, without touching the database.

    A forking worker calls this once at start-up, so each work horse inherits them instead of
    building them again for every job.
    """
    alias = router.db_for_write(BatchJob)
    connection = connections[alias]
    for model in (BatchJob, Batch):
        _converters(model, connection.vendor, alias)
    _index(BatchJob, "batch_id")
    for with_rq_filter in (True, False):
        _claim_sql(alias, connection.vendor, with_rq_filter, _async_commits())
    _complete_sql(alias, connection.vendor, _async_commits())
    if connection.vendor == "postgresql":
        _complete_member_sql(alias, True)
        _complete_member_sql(alias, False)
        _next_step_sql(alias, _async_commits())


def _async_commits() -> bool:
    return bool(conf.get("ASYNC_JOB_COMMITS"))
