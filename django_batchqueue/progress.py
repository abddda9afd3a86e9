"""Progress arithmetic shared by every representation of a batch (records and models)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from .states import FINISHED_BATCH


class BatchFigures:
    """Derived figures of a batch, shared by :class:`BatchRecord` and the ``Batch`` model."""

    status: str
    total_jobs: int
    completed_jobs: int
    failed_jobs: int
    cancelled_jobs: int
    waiting_jobs: int
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def pending_jobs(self) -> int:
        """Jobs that have not reached a final status."""
        return max(
            self.total_jobs - self.completed_jobs - self.failed_jobs - self.cancelled_jobs, 0
        )

    @property
    def active_jobs(self) -> int:
        """Jobs handed to RQ and not finished: queued or running."""
        return max(self.pending_jobs - self.waiting_jobs, 0)

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_BATCH

    @property
    def progress_percentage(self) -> int:
        """Share of jobs that reached a final status; 100 once the batch has finished."""
        if self.is_finished or not self.total_jobs:
            return 100 if self.is_finished else 0
        done = self.completed_jobs + self.failed_jobs + self.cancelled_jobs
        return round(100 * done / self.total_jobs)

    @property
    def duration(self) -> timedelta | None:
        if self.started_at is None:
            return None
        return (self.finished_at or timezone.now()) - self.started_at
