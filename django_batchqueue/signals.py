"""Signals sent after the state change they describe has been committed.

Every signal is sent with ``sender=Batch`` (the model class) and ``batch_id``.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal

#: A batch was stored and its first jobs handed to RQ. Extra: ``batch``.
batch_dispatched = Signal()
#: A batch completed (status ``completed``). Extra: ``status``.
batch_finished = Signal()
#: A batch failed. Extra: ``error``.
batch_failed = Signal()
#: A batch was cancelled. Extra: ``compensate``.
batch_cancelled = Signal()
#: A job's run started (in the worker, once its row was claimed). Extra: ``job_id``,
#: ``position``, ``attempt``, ``batch`` (its batch as loaded with the row).
job_started = Signal()
#: A job completed. Extra: ``job_id``, ``position``, ``result``.
job_completed = Signal()
#: A job failed for good (its retries are used up). Extra: ``job_id``, ``position``, ``error``.
job_failed = Signal()
#: Every compensation of a batch has finished. Extra: ``status`` (``completed`` or ``failed``).
compensation_finished = Signal()


def send(signal: Signal, batch_id: str, **kwargs: Any) -> None:
    """Send ``signal`` as every signal here is sent: ``sender=Batch`` and the batch id."""
    from django.apps import apps

    signal.send_robust(
        sender=apps.get_model("django_batchqueue", "Batch"), batch_id=batch_id, **kwargs
    )
