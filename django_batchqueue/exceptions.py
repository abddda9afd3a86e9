"""Errors raised by django_batchqueue.

Every error is a :class:`BatchQueueError`; an exception's docstring is its default message.
"""

from __future__ import annotations


class BatchQueueError(Exception):
    """A django_batchqueue error."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class InvalidDefinition(BatchQueueError, ValueError):
    """A batch, chain or job definition is malformed."""


class JobImportError(BatchQueueError, ValueError):
    """A job path cannot be imported or does not name a Job subclass or @job function."""


class SerializationError(BatchQueueError, ValueError):
    """A value that must be stored as JSON is not JSON-serializable."""


class PayloadTooLarge(SerializationError):
    """A payload is larger than BATCHQUEUE['MAX_PAYLOAD_BYTES']."""


class UnknownQueue(BatchQueueError, ValueError):
    """A queue name is neither a BATCHQUEUE named queue nor an RQ_QUEUES entry."""


class BatchNotFound(BatchQueueError, LookupError):
    """No batch has this id."""


class BatchClosed(BatchQueueError):
    """The batch has finished and no longer accepts jobs."""


class InvalidBatchState(BatchQueueError):
    """The operation does not apply to the batch in its current state."""


class NothingToRetry(InvalidBatchState):
    """Only a failed batch, or a completed allow-failures batch with failed jobs, can be retried."""


class CompensationStarted(InvalidBatchState):
    """The batch cannot be retried: its compensation has started."""


class JobNotFound(BatchQueueError, LookupError):
    """No job with this id belongs to the batch."""


class MalformedPayload(BatchQueueError):
    """A stored row or RQ message is not in the shape the engine writes."""


class JobTimeout(BatchQueueError):
    """The job ran longer than its timeout."""


class JobTimeoutIgnored(BaseException):
    """Raised in a job that went on ``TIMEOUT_GRACE`` seconds past its :class:`JobTimeout`
    (it caught it). A ``BaseException``, so ``except Exception`` cannot swallow it too."""


class TransactionLeftOpen(BatchQueueError):
    """The job returned with a database transaction still open; its uncommitted writes were
    rolled back, and the attempt failed (it is retried by the job's policy)."""
