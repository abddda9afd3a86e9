"""``SQLStorage``: batch state in the Django database, in the ``Batch`` and ``BatchJob`` tables.

The class maps each verb of :class:`~django_batchqueue.storage.base.Storage` to the module that
implements it: :mod:`.transitions` (conditional UPDATEs), :mod:`.hotpath` (the two statements
every run makes), :mod:`.bulk` (inserting a batch's rows), :mod:`.reads` and
:mod:`.maintenance`. Units of work are Django transactions; a decision about a batch starts by
writing to its row, which serialises decisions per batch on PostgreSQL (row lock) and SQLite
(the database write lock).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from ...models import Batch, BatchJob
from ...states import JobKind
from .. import composite
from ..records import BatchRecord, JobRecord, NewJob, NewRun, NextStep
from . import bulk, hotpath, maintenance, reads, transitions


class SQLStorage:
    """The default storage backend (``BATCHQUEUE["STORAGE"] = "sql"``)."""

    supports_transactions: ClassVar[bool] = True
    supports_querysets: ClassVar[bool] = True
    supports_durability: ClassVar[bool] = True

    # -- units of work ----------------------------------------------------------------------

    @staticmethod
    def atomic() -> Any:
        return transaction.atomic()

    @contextmanager
    def decide(self, batch_id: uuid.UUID) -> Iterator[bool]:
        with transaction.atomic():
            root = Batch.objects.filter(pk=batch_id).values_list("root_id", flat=True).first()
            if root is not None and root != batch_id:
                transitions.lock(root)  # decisions in a tree take its root first: no deadlock
            yield transitions.lock(batch_id)

    lock = staticmethod(transitions.lock)

    @staticmethod
    def lock_tree(batch: BatchRecord) -> None:
        if batch.root_id is not None and batch.root_id != batch.id:
            transitions.lock(batch.root_id)

    @staticmethod
    def on_commit(fn: Callable[[], Any]) -> None:
        transaction.on_commit(fn)

    def check(self) -> list[Any]:
        return []

    # -- creating ---------------------------------------------------------------------------

    @staticmethod
    def create_batch(batch: BatchRecord, jobs: Iterable[NewJob]) -> None:
        Batch(
            id=batch.id,
            type=batch.type,
            status=batch.status,
            name=batch.name,
            queue=batch.queue,
            parent_id=batch.parent_id,
            root_id=batch.root_id,
            member_id=batch.member_id,
            path=batch.path,
            has_children=batch.has_children,
            total_jobs=batch.total_jobs,
            waiting_jobs=batch.waiting_jobs,
            max_concurrency=batch.max_concurrency,
            context=batch.context,
            callbacks=batch.callbacks,
            options=batch.options,
            allow_failures=batch.allow_failures,
            has_compensation=batch.has_compensation,
            created_by_id=batch.created_by_id,
            created_at=batch.created_at,
            updated_at=batch.updated_at,
        ).save(force_insert=True)
        bulk.insert_new_jobs(batch.id, jobs, batch.created_at)

    @staticmethod
    def add_new_jobs(batch_id: uuid.UUID, jobs: Iterable[NewJob]) -> None:
        bulk.insert_new_jobs(batch_id, jobs, timezone.now())

    @staticmethod
    def insert_runs(runs: Sequence[NewRun]) -> None:
        _number_callbacks(runs)
        BatchJob.objects.bulk_create(
            [
                BatchJob(
                    id=run.id,
                    batch_id=run.batch_id,
                    kind=run.kind,
                    position=run.position,
                    event=run.event,
                    sequence=run.sequence,
                    job_path=run.job_path,
                    compensates_id=run.compensates_id,
                    args=run.args,
                    meta=run.meta,
                    max_retries=run.max_retries,
                    retry_delay=run.retry_delay,
                    timeout=run.timeout,
                )
                for run in runs
            ],
            batch_size=2000,
        )

    # -- transitions ------------------------------------------------------------------------

    claim_and_load = staticmethod(hotpath.claim_and_load)
    complete_and_count = staticmethod(hotpath.complete_and_count)
    finish = staticmethod(transitions.finish)

    def complete_member(
        self, row: JobRecord, result: Any, context: dict[str, Any] | None = None
    ) -> BatchRecord | None:
        if hotpath.one_statement_steps():
            return hotpath.complete_member(row, result, context)
        return composite.complete_member(self, row, result, context)

    def queue_next_step(
        self,
        batch_id: uuid.UUID,
        rq_job_id: str,
        meta: dict[str, Any],
        *,
        durable: bool = True,
    ) -> NextStep:
        if hotpath.one_statement_steps():
            return hotpath.queue_next_step(batch_id, rq_job_id, meta, durable=durable)
        return composite.queue_next_step(self, batch_id, rq_job_id, meta)

    requeue_after_failure = staticmethod(transitions.requeue_after_failure)
    queue_pending = staticmethod(transitions.queue_pending)
    start_virtual = staticmethod(transitions.start_virtual)
    reopen_child = staticmethod(transitions.reopen_child)
    release_waiting = staticmethod(transitions.release_waiting)
    reassign_rq_jobs = staticmethod(transitions.reassign_rq_jobs)
    cancel_unstarted = staticmethod(transitions.cancel_unstarted)
    count = staticmethod(transitions.count)
    grow = staticmethod(transitions.grow)
    mark_started = staticmethod(transitions.mark_started)
    settle = staticmethod(transitions.settle)
    close = staticmethod(transitions.close)
    outcome_written = staticmethod(transitions.outcome_written)
    reopen_for_retry = staticmethod(transitions.reopen_for_retry)
    finalize = staticmethod(transitions.finalize)
    set_compensation_status = staticmethod(transitions.set_compensation_status)
    reset_for_retry = staticmethod(transitions.reset_for_retry)

    # -- reads ------------------------------------------------------------------------------

    get_batch = staticmethod(reads.get_batch)
    load_job = staticmethod(reads.load_job)
    job_status = staticmethod(reads.job_status)
    batch_status = staticmethod(reads.batch_status)
    max_position = staticmethod(reads.max_position)
    first_pending = staticmethod(reads.first_pending)
    has_active = staticmethod(reads.has_active)
    completed_with_compensation = staticmethod(reads.completed_with_compensation)
    running_with_compensation = staticmethod(reads.running_with_compensation)
    compensation_failures = staticmethod(reads.compensation_failures)
    user_batch = staticmethod(reads.user_batch)
    child_of = staticmethod(reads.child_of)
    children = staticmethod(reads.children)
    user_children = staticmethod(reads.user_children)
    member_result = staticmethod(reads.member_result)
    result_at = staticmethod(reads.result_at)
    leaf_counts = staticmethod(reads.leaf_counts)
    compensation_of = staticmethod(reads.compensation_of)
    progress_of = staticmethod(reads.progress_of)
    completed_results = staticmethod(reads.completed_results)
    count_completed = staticmethod(reads.count_completed)
    job_result = staticmethod(reads.job_result)
    list_batches = staticmethod(reads.list_batches)
    count_batches = staticmethod(reads.count_batches)
    list_jobs = staticmethod(reads.list_jobs)
    count_jobs = staticmethod(reads.count_jobs)
    count_runs = staticmethod(reads.count_runs)

    # -- maintenance ------------------------------------------------------------------------

    stale_rows = staticmethod(maintenance.stale_rows)
    open_queues = staticmethod(maintenance.open_queues)
    stalled_batches = staticmethod(maintenance.stalled_batches)
    batches_to_prune = staticmethod(maintenance.batches_to_prune)
    count_rows = staticmethod(maintenance.count_rows)
    delete_batches = staticmethod(maintenance.delete_batches)

    # -- worker start-up --------------------------------------------------------------------

    warm_up = staticmethod(hotpath.warm_up)


def _number_callbacks(runs: Sequence[NewRun]) -> None:
    """Give callback runs the next sequence numbers of their batch (the caller holds the
    batch's decision lock, so no other callback is numbered meanwhile)."""
    nxt: dict[uuid.UUID, int] = {}
    for run in runs:
        if run.kind != JobKind.CALLBACK:
            continue
        if run.batch_id not in nxt:
            found = BatchJob.objects.filter(batch_id=run.batch_id, kind=JobKind.CALLBACK).aggregate(
                m=Max("sequence")
            )["m"]
            nxt[run.batch_id] = 0 if found is None else found + 1
        run.sequence = nxt[run.batch_id]
        nxt[run.batch_id] += 1
