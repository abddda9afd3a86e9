"""``BatchManager``: build, inspect and control batches from Python."""

from __future__ import annotations

import uuid
from typing import Any

from .builder import BatchBuilder
from .exceptions import BatchNotFound, JobNotFound
from .execution import control
from .states import BatchType, JobStatus
from .storage import get_storage


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    try:
        return control.parse_batch_id(value)
    except BatchNotFound:
        return None


class BatchManager:
    """Entry point for batches: ``batch()``/``chain()`` build them, the rest reads and controls."""

    # -- building --------------------------------------------------------------------------

    def batch(self, jobs: Any) -> BatchBuilder:
        """A parallel batch of ``jobs`` (all may run at once)."""
        return BatchBuilder(jobs, BatchType.PARALLEL)

    def chain(self, jobs: Any) -> BatchBuilder:
        """A chain: ``jobs`` run one after another, sharing an accumulating context."""
        return BatchBuilder(jobs, BatchType.SEQUENTIAL)

    # -- reading ---------------------------------------------------------------------------

    def get_batch(self, batch_id: Any) -> Any:
        """The batch, or ``None`` for an unknown (or malformed) id.

        On SQL storage it is the ``Batch`` model instance; on other storage a
        :class:`~django_batchqueue.storage.records.BatchRecord` with the same fields.
        """
        uid = _uuid_or_none(batch_id)
        return None if uid is None else get_storage().user_batch(uid)

    def get_progress(self, batch_id: Any) -> dict[str, Any] | None:
        """Counters and percentage for a progress bar, or ``None`` for an unknown id."""
        uid = _uuid_or_none(batch_id)
        if uid is None:
            return None
        batch = get_storage().progress_of([uid]).get(uid)  # counters only, not the context
        return None if batch is None else progress_for(batch)

    def get_children(self, batch_id: Any) -> list[Any]:
        """The batch's nested batches, in position order (as :meth:`get_batch` gives them)."""
        return get_storage().user_children(self._require(batch_id))

    def get_results(self, batch_id: Any) -> dict[str, Any]:
        """``{job_id: result}`` of the completed jobs, in position order."""
        uid = self._require(batch_id)
        return {str(job_id): result for job_id, _, result in get_storage().completed_results(uid)}

    def get_job_result(self, batch_id: Any, job_id: Any) -> Any:
        """One job's result (``None`` until it has completed)."""
        uid = self._require(batch_id)
        try:
            job_uuid = uuid.UUID(str(job_id))
        except (TypeError, ValueError):
            raise JobNotFound(f"no job with id {job_id!r} (not a UUID)") from None
        found = get_storage().job_result(uid, job_uuid)
        if found is None:
            raise JobNotFound(f"batch {uid} has no job {job_id!r}")
        status, result = found
        return result if status == JobStatus.COMPLETED else None

    def _require(self, batch_id: Any) -> uuid.UUID:
        uid = control.parse_batch_id(batch_id)
        if get_storage().batch_status(uid) is None:
            raise BatchNotFound(f"no batch with id {str(batch_id)!r}")
        return uid

    # -- controlling -----------------------------------------------------------------------

    def add_jobs(self, batch_id: Any, jobs: Any) -> list[str]:
        """Append jobs to a pending or running batch; returns the new job ids."""
        return control.add_jobs(batch_id, jobs)

    def cancel(self, batch_id: Any, compensate: bool = False) -> bool:
        """Cancel the batch (True) or report it had already finished (False)."""
        return control.cancel(batch_id, compensate=compensate)

    def retry_failed(self, batch_id: Any) -> int:
        """Re-queue a failed batch's failed and cancelled jobs; returns how many."""
        return control.retry_failed(batch_id)


def progress_for(batch: Any) -> dict[str, Any]:
    """:func:`progress_of` with the leaf counters of a batch that has nested batches (two more
    reads, whatever the size of its tree)."""
    if not batch.has_children:
        return progress_of(batch)
    return progress_of(batch, get_storage().leaf_counts(batch))


def progress_of(batch: Any, leaf: dict[str, int] | None = None) -> dict[str, Any]:
    """The progress dict of the contract for a batch record (or model instance).

    ``leaf`` (for a batch with nested batches: the counters summed over the leaf jobs of its
    tree, from ``Storage.leaf_counts``) is reported as ``"leaf"``, and ``progress_percentage``
    is computed from it, so a progress bar moves while a nested batch runs. Without nested
    batches the leaf counters are the batch's own. The admin and the API add ``active_jobs``
    and ``waiting_jobs`` (see :func:`turns_of`).
    """
    if leaf is None:
        leaf = {
            "total_jobs": batch.total_jobs,
            "completed_jobs": batch.completed_jobs,
            "failed_jobs": batch.failed_jobs,
            "cancelled_jobs": batch.cancelled_jobs,
        }
    return {
        "id": str(batch.pk),
        "type": batch.type,
        "status": batch.status,
        "total_jobs": batch.total_jobs,
        "completed_jobs": batch.completed_jobs,
        "failed_jobs": batch.failed_jobs,
        "cancelled_jobs": batch.cancelled_jobs,
        "pending_jobs": batch.pending_jobs,
        "progress_percentage": _percentage(batch.is_finished, leaf),
        "has_compensation": batch.has_compensation,
        "compensation_status": batch.compensation_status,
        "created_at": batch.created_at,
        "finished_at": batch.finished_at,
        "leaf": leaf,
    }


def _percentage(finished: bool, leaf: dict[str, int]) -> int:
    if finished or not leaf["total_jobs"]:
        return 100 if finished else 0
    done = leaf["completed_jobs"] + leaf["failed_jobs"] + leaf["cancelled_jobs"]
    return round(100 * done / leaf["total_jobs"])


def turns_of(batch: Any) -> dict[str, int]:
    """Of a batch's unfinished jobs: how many are queued or running, how many wait their turn."""
    return {"active_jobs": batch.active_jobs, "waiting_jobs": batch.waiting_jobs}
