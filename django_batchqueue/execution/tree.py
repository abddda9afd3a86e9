"""Turn a batch definition with nested batches into the rows of one tree, parents first.

Each nested batch becomes a batch of its own (``parent_id``, ``root_id``, ``member_id``,
``path``) and a member row of ``kind="batch"`` in its parent, at its position. Only the top
batch starts at dispatch (its first jobs are queued, as :func:`flow.plan` decides); nested
batches are held, every row pending, until their parent starts them. A nested batch without its
own queue uses its parent's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from ..definitions import BatchPlan, NestedSpec
from ..states import BatchStatus, BatchType
from ..storage.records import NESTED_UNDO, BatchRecord
from . import flow
from .queues import Enqueue, resolve_queue


@dataclass
class Node:
    """One batch of the tree with its member rows (built as storage writes them)."""

    batch: BatchRecord
    rows: flow.PlannedRows

    @property
    def enqueues(self) -> list[Enqueue]:
        """The RQ jobs that start with the batch (known once its rows were written)."""
        return self.rows.enqueues


def flatten(
    plan: BatchPlan,
    *,
    created_by_id: object = None,
    parent: BatchRecord | None = None,
    member_id: uuid.UUID | None = None,
) -> list[Node]:
    """The batches of ``plan``'s tree, parents before children; the first is ``plan``'s own.

    Without ``parent`` the batch is a top batch that starts now; with one, it is a nested
    batch (member row ``member_id`` of ``parent``) that waits for its parent to start it.
    """
    batch_id = uuid.uuid4()
    queue = plan.queue or (parent.queue if parent is not None else resolve_queue())
    options = {**plan.defaults, **plan.extra_options}
    if plan.type == BatchType.PARALLEL:
        options[flow.WINDOW_OPTION] = flow.window_at_dispatch()
    nested = [e for e in plan.entries if isinstance(e, NestedSpec)]
    batch = BatchRecord(
        id=batch_id,
        type=plan.type,
        status=BatchStatus.PENDING,
        name=plan.name,
        queue=queue,
        parent_id=parent.id if parent is not None else None,
        root_id=parent.tree_root if parent is not None else batch_id,
        member_id=member_id,
        path=f"{parent.path}/{batch_id}" if parent is not None else str(batch_id),
        has_children=bool(nested),
        total_jobs=len(plan.entries),
        max_concurrency=plan.max_concurrency,
        context=plan.context,
        callbacks=plan.callbacks,
        options=options,
        allow_failures=plan.allow_failures,
        has_compensation=plan.has_compensation,
        created_by_id=created_by_id,
    )
    member_ids = {id(e): uuid.uuid4() for e in nested}
    rows = flow.plan(
        plan.entries,
        batch_type=plan.type,
        queue=queue,
        defaults=plan.defaults,
        limit=flow.fill_of(batch),
        at_dispatch=parent is None,
        held=parent is not None,
        member_ids=member_ids,
        nested_undo=NESTED_UNDO,
    )
    batch.waiting_jobs = rows.waiting
    nodes = [Node(batch, rows)]
    for entry in nested:
        nodes += flatten(
            entry.plan, created_by_id=created_by_id, parent=batch, member_id=member_ids[id(entry)]
        )
    return nodes
