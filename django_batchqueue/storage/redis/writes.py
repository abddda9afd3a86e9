"""Writes of Redis storage: creating batches and rows, and every conditional transition, each
one script (:mod:`.lua`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.utils import timezone

from ... import conf
from ...serialization import dumps
from ..records import BatchRecord, Counts, JobRecord, NewJob, NewRun
from .codec import (
    BATCH_FIELDS,
    batch_from,
    encode,
    flatten,
    job_from,
    new_job_hash,
    new_run_hash,
    pairs,
    score,
)
from .units import UnitsOfWork

#: Rows per script call when storing many (one MULTI holds them all).
CHUNK = 500


class RedisWrites(UnitsOfWork):
    """Creating and transitions."""

    # -- creating ---------------------------------------------------------------------------

    def create_batch(self, batch: BatchRecord, jobs: Iterable[NewJob]) -> None:
        stored = encode(batch, BATCH_FIELDS)
        pipe = self.client.pipeline(transaction=True)
        self.run(
            "put_batch",
            batch.id,
            batch.parent_id,
            batch.member_id,
            batch.tree_root,
            score(batch.created_at),
            *flatten(stored),
            pipe=pipe,
        )
        self._put_rows(pipe, batch.id, [new_job_hash(batch.id, j, batch.created_at) for j in jobs])
        pipe.execute()

    def add_new_jobs(self, batch_id: uuid.UUID, jobs: Iterable[NewJob]) -> None:
        now = timezone.now()
        pipe = self.client.pipeline(transaction=True)
        self._put_rows(pipe, batch_id, [new_job_hash(batch_id, j, now) for j in jobs])
        pipe.execute()

    def _put_rows(
        self, pipe: Any, batch_id: uuid.UUID, rows: list[dict[str, str]], set_: str = "m"
    ) -> None:
        for start in range(0, len(rows), CHUNK):
            args: list[str] = []
            for row in rows[start : start + CHUNK]:
                flat = flatten(row)
                args += [str(len(flat)), *flat]
            self.run("put_rows", batch_id, set_, *args, pipe=pipe)

    def insert_runs(self, runs: Sequence[NewRun]) -> None:
        now = timezone.now()
        pipe = self.client.pipeline(transaction=True)
        for run in runs:
            flat = flatten(new_run_hash(run, now))
            self.run("put_rows", run.batch_id, "r", str(len(flat)), *flat, pipe=pipe)
        for run, sequences in zip(runs, pipe.execute(), strict=True):
            run.sequence = int(sequences[0])

    # -- job transitions --------------------------------------------------------------------

    def claim_and_load(self, row_id: str, rq_job_id: str | None, worker: str) -> JobRecord | None:
        found = self.run("claim", uuid.UUID(str(row_id)), rq_job_id or "", worker[:255])
        if not found:
            return None
        row, batch = found
        return job_from(pairs(row), batch=batch_from(pairs(batch)))

    def complete_and_count(self, row: JobRecord, result: Any) -> Counts | None:
        found = self.run("finish", row.id, row.rq_job_id, "completed", dumps(result), "", "", "1")
        if not found:
            return None
        row.status = "completed"
        total, completed, failed, cancelled, status, waiting = found
        return Counts(
            int(total),
            int(completed),
            int(failed or 0),
            int(cancelled or 0),
            status,
            int(waiting or 0),
        )

    def finish(
        self,
        row: JobRecord,
        status: str,
        *,
        result: Any = None,
        error: str = "",
        traceback: str = "",
        counted: bool = False,
        context: dict[str, Any] | None = None,
    ) -> bool:
        has_context = context is not None
        done = self.run(
            "finish",
            row.id,
            row.rq_job_id,
            status,
            dumps(result),
            error,
            traceback,
            counted,
            has_context,
            dumps(context) if has_context else "",
        )
        if done:
            row.status = status
        return bool(done)

    def requeue_after_failure(
        self, row: JobRecord, rq_job_id: str, error: str, traceback: str
    ) -> bool:
        return bool(self.run("requeue", row.id, row.rq_job_id, rq_job_id, error, traceback))

    def queue_pending(
        self,
        row_id: uuid.UUID,
        rq_job_id: str,
        *,
        batch_id: uuid.UUID | None = None,
        meta: dict[str, Any] | None = None,
    ) -> bool:
        has_meta = meta is not None
        return bool(
            self.run(
                "queue_pending",
                row_id,
                rq_job_id,
                batch_id,
                has_meta,
                dumps(meta) if has_meta else "",
            )
        )

    def start_virtual(self, row_id: uuid.UUID, *, batch_id: uuid.UUID | None = None) -> bool:
        return bool(self.run("start_virtual", row_id, batch_id))

    def reopen_child(self, batch_id: uuid.UUID) -> bool:
        return bool(self.run("batch", batch_id, "reopen_child"))

    def release_waiting(
        self, batch_id: uuid.UUID, limit: int
    ) -> list[tuple[uuid.UUID, str, int | None, str]]:
        released = self.run("release", batch_id, limit)
        return [
            (uuid.UUID(row_id), rq_job_id, int(timeout) if timeout else None, kind)
            for row_id, rq_job_id, timeout, kind in released
        ]

    def reassign_rq_jobs(self, changes: Sequence[tuple[uuid.UUID, str, str]]) -> set[uuid.UUID]:
        args: list[Any] = []
        for row_id, old, new in changes:
            args += [row_id, old, new]
        if not args:
            return set()
        return {uuid.UUID(i) for i in self.run("reassign", *args)}

    def cancel_unstarted(self, batch_id: uuid.UUID) -> int:
        return int(self.run("cancel_unstarted", batch_id))

    # -- batch transitions ------------------------------------------------------------------

    def count(
        self,
        batch_id: uuid.UUID,
        *,
        completed: int = 0,
        failed: int = 0,
        cancelled: int = 0,
        waiting: int = 0,
        context: dict[str, Any] | None = None,
    ) -> bool:
        has_context = context is not None
        return bool(
            self.run(
                "count",
                batch_id,
                completed,
                failed,
                cancelled,
                waiting,
                has_context,
                dumps(context) if has_context else "",
            )
        )

    def grow(
        self,
        batch_id: uuid.UUID,
        n: int,
        has_compensation: bool,
        waiting: int = 0,
        has_children: bool = False,
    ) -> bool:
        return bool(self.run("grow", batch_id, n, has_compensation, waiting, has_children))

    def mark_started(self, batch_id: uuid.UUID) -> bool:
        return bool(self.run("batch", batch_id, "started"))

    def settle(self, batch_id: uuid.UUID, recount: bool = False) -> bool:
        return bool(self.run("batch", batch_id, "settle", "recount" if recount else ""))

    def close(self, batch_id: uuid.UUID, status: str, error: str = "", undo: bool = False) -> bool:
        acting = f"{status}+undo" if undo else status
        return bool(self.run("batch", batch_id, "close", status, error, acting))

    def outcome_written(self, batch_id: uuid.UUID) -> None:
        self.run("batch", batch_id, "outcome_written")

    def reopen_for_retry(self, batch_id: uuid.UUID) -> bool:
        return bool(self.run("batch", batch_id, "reopen_for_retry"))

    def finalize(self, batch_id: uuid.UUID) -> bool:
        return bool(self.run("batch", batch_id, "finalize", int(conf.get("REDIS_TTL") or 0)))

    def set_compensation_status(
        self, batch_id: uuid.UUID, status: str, only_if: Iterable[str | None] | None = None
    ) -> bool:
        allowed = ["any"] if only_if is None else ["only", *(s or "" for s in only_if)]
        return bool(self.run("batch", batch_id, "compensation", status, *allowed))

    def reset_for_retry(self, batch_id: uuid.UUID) -> list[JobRecord]:
        ids = self.run("reset_for_retry", batch_id)
        pipe = self.client.pipeline(transaction=False)
        for row_id in ids:
            pipe.hgetall(self.key("j:", row_id))
        return [r for r in (job_from(raw) for raw in pipe.execute()) if r is not None]
