"""Django @task functions used by the test suite (Django 6's django.tasks, or the backport)."""

from __future__ import annotations

from decimal import Decimal

from django_batchqueue.djtasks import AVAILABLE

from .models import record

if AVAILABLE:
    try:
        from django.tasks import task
    except ImportError:
        from django_tasks import task

    @task
    def add(a, b):
        record("task:add", a=a, b=b)
        return a + b

    @task
    def total(amounts):
        """A chain step: returns a Decimal (stored as Django's JSON encoder stores it)."""
        record("task:total", amounts=amounts)
        return sum((Decimal(a) for a in amounts), Decimal("0"))

    @task(takes_context=True)
    def with_context(context, label):
        record("task:context", name=label, attempt=context.attempt, id=context.task_result.id)
        return {"label": label, "attempt": context.attempt}

    @task
    def fails(message="task failed"):
        record("task:fails", message=message)
        raise LookupError(message)

    @task(queue_name="email-processing")
    def on_named_queue():
        record("task:named")
        return "named"

    @task
    def undo_task(**kwargs):
        record("task:undo", args=kwargs)

    @task
    def callback_task(batch_id, status):
        record("task:callback", batch_id=batch_id, status=status)
