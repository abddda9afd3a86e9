"""Maintenance on Redis storage (reconcile, prune) and its ``manage.py check``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ...states import OPEN_BATCH, JobKind
from ...states import JobStatus as S
from ..records import NESTED_UNDO, BatchRecord, JobRecord
from ..selection import needs_nudge, to_prune
from .codec import score
from .reads import RedisReads
from .writes import RedisWrites

#: Index entries read per round trip while paging.
PAGE = 1000


class RedisUpkeep(RedisReads, RedisWrites):
    """Reconcile's and prune's reads, deletion, and the configuration check."""

    def stale_rows(
        self,
        status: str,
        before: datetime,
        limit: int,
        after: tuple[datetime, uuid.UUID] | None = None,
    ) -> list[JobRecord]:
        index = self.key("queued" if status == S.QUEUED else "running")
        low: Any = "-inf" if after is None else score(after[0])
        found: list[JobRecord] = []
        offset = 0
        while len(found) < limit:
            ids = self.client.zrangebyscore(
                index, low, f"({score(before)!r}", start=offset, num=PAGE
            )
            if not ids:
                break
            offset += len(ids)
            for row in self._load_rows(ids):
                since = row.enqueued_at if status == S.QUEUED else row.started_at
                if row.status != status or since is None or since >= before:
                    continue
                if row.kind == JobKind.BATCH or row.job_path == NESTED_UNDO:
                    continue
                if after is not None and (since, str(row.id)) <= (after[0], str(after[1])):
                    continue
                found.append(row)
        found.sort(key=lambda r: (r.enqueued_at if status == S.QUEUED else r.started_at, str(r.id)))
        found = found[:limit]
        batches = {b.id: b for b in self._batches(sorted({str(r.batch_id) for r in found}))}
        for row in found:
            row.batch = batches.get(row.batch_id)
        return [r for r in found if r.batch is not None]

    def open_queues(self) -> set[str]:
        open_ids = sorted(self.client.smembers(self.key("open")))
        queues = {b.queue for b in self._batches(open_ids) if b.status in OPEN_BATCH}
        queued = self._load_rows(self.client.zrange(self.key("queued"), 0, -1))
        delayed = sorted({str(r.batch_id) for r in queued if r.retry_delay > 0})
        return queues | {b.queue for b in self._batches(delayed)}

    def stalled_batches(self, quiet_since: datetime, limit: int) -> list[uuid.UUID]:
        ids = self.client.zrangebyscore(self.key("touched"), "-inf", f"({score(quiet_since)!r}")
        found: list[uuid.UUID] = []
        for batch in self._batches(ids):
            if len(found) >= limit:
                break
            if batch.acting:  # an ending's follow-ups are missing: queued jobs must not run
                found.append(batch.id)
                continue
            if self.client.scard(self.key("a:", batch.id)):
                continue
            if (
                needs_nudge(batch, self._runs(batch.id))
                or self._counts_behind(batch)
                or self._member_left_running(batch)
            ):
                found.append(batch.id)
        return found

    def _counts_behind(self, batch: BatchRecord) -> bool:
        """An open batch with no member active or waiting: if its counters say it is not done,
        they are behind its rows (the nudge's settle recounts)."""
        return batch.status in OPEN_BATCH and not self.client.zcard(self.key("p:", batch.id))

    def _member_left_running(self, batch: BatchRecord) -> bool:
        """A nested batch that is over (finalized, nothing of it active) while its member row
        in the parent still runs: a worker died before the parent heard of it."""
        if batch.member_id is None or batch.finalized_at is None:
            return False
        status = self.client.hget(self.key("j:", batch.member_id), "status")
        return bool(status == S.RUNNING)

    def batches_to_prune(
        self, finished_before: datetime, unfinished_created_before: datetime | None
    ) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
        every = self._batches(self.client.zrange(self.key("batches"), 0, -1))
        return to_prune(every, finished_before, unfinished_created_before)

    def count_rows(self, batch_ids: Sequence[uuid.UUID]) -> int:
        pipe = self.client.pipeline(transaction=False)
        for batch_id in batch_ids:
            pipe.zcard(self.key("m:", batch_id))
            pipe.scard(self.key("r:", batch_id))
        return sum(pipe.execute())

    def delete_batches(self, batch_ids: Sequence[uuid.UUID]) -> tuple[int, int]:
        batches = rows = 0
        for start in range(0, len(batch_ids), 100):
            b, r = self.run("delete", *batch_ids[start : start + 100])
            batches, rows = batches + int(b), rows + int(r)
        return batches, rows

    def forget_expired(self) -> int:
        """Drop index entries of trees whose keys expired (their TTL ran out); returns how
        many trees. Reads skip such entries anyway; each reconcile pass calls this to keep the
        indexes small."""
        now = score(datetime.now().astimezone())
        gone = self.client.zrangebyscore(self.key("expiring"), "-inf", now)
        stale = [b for b in gone if not self.client.exists(self.key("b:", b))]
        if stale:
            pipe = self.client.pipeline(transaction=True)
            for name in ("batches", "touched", "expiring"):
                pipe.zrem(self.key(name), *stale)
            pipe.srem(self.key("open"), *stale)
            pipe.execute()
        return len(stale)

    def check(self) -> list[Any]:
        from django.core import checks

        try:
            config = self.client.config_get("appendonly")
            config.update(self.client.config_get("save"))
        except Exception as exc:  # any failure is reported, not raised
            return [
                checks.Warning(
                    f"BATCHQUEUE['STORAGE'] = 'redis': cannot read the storage Redis's "
                    f"persistence settings ({type(exc).__name__}: {exc}).",
                    hint="Check BATCHQUEUE['REDIS_STORAGE_URL'] (or the default queue's Redis).",
                    id="django_batchqueue.W020",
                )
            ]
        if config.get("appendonly") != "yes" and not (config.get("save") or "").strip():
            return [
                checks.Warning(
                    "BATCHQUEUE['STORAGE'] = 'redis', but the storage Redis keeps nothing on "
                    "disk (appendonly no, no save points): a restart loses every batch.",
                    hint="Turn on AOF (appendonly yes) or RDB snapshots (save ...), or use "
                    "STORAGE = 'sql'. See docs/storage.md.",
                    id="django_batchqueue.W020",
                )
            ]
        return []

    def warm_up(self) -> None:
        pass

    def reset(self) -> None:
        """Delete every key of the namespace (tests)."""
        keys = list(self.client.scan_iter(match=self.key("*"), count=1000))
        for start in range(0, len(keys), 1000):
            self.client.delete(*keys[start : start + 1000])
