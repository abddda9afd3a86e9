"""django_batchqueue: batches, chains and sagas of background jobs on RQ.

Public names are imported lazily so that importing the package never imports models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["BatchManager", "Job", "batch", "chain", "job"]

if TYPE_CHECKING:
    from .builder import BatchBuilder
    from .jobs import Job, job
    from .manager import BatchManager


def batch(jobs: Any) -> BatchBuilder:
    """Shortcut for ``BatchManager().batch(jobs)``."""
    from .manager import BatchManager

    return BatchManager().batch(jobs)


def chain(jobs: Any) -> BatchBuilder:
    """Shortcut for ``BatchManager().chain(jobs)``."""
    from .manager import BatchManager

    return BatchManager().chain(jobs)


def __getattr__(name: str) -> Any:
    if name in ("Job", "job"):
        from . import jobs

        return getattr(jobs, name)
    if name == "BatchManager":
        from .manager import BatchManager

        return BatchManager
    raise AttributeError(f"module 'django_batchqueue' has no attribute {name!r}")
