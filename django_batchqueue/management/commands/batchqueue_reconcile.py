"""``manage.py batchqueue_reconcile``: repair rows left behind by crashes and outages."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from django_batchqueue.execution.reconcile import reconcile


class Command(BaseCommand):
    help = (
        "Repair jobs left queued whose RQ job is gone, jobs left running whose worker died or "
        "that ran past their timeout, due delayed retries and stalled batches. Safe to run at "
        "any time and repeatedly; BatchWorker runs it on its own every RECONCILE_INTERVAL."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--grace",
            type=float,
            default=None,
            help="seconds a row must be quiet before it is judged "
            "(default BATCHQUEUE['RECONCILE_GRACE'])",
        )

    def handle(self, *args: Any, grace: float | None, **options: Any) -> None:
        report = reconcile(grace_seconds=grace)
        for line in report.details:
            self.stdout.write(line)
        self.stdout.write(
            f"Reconciled: {report.orphaned_runs} orphaned run(s) failed over, "
            f"{report.reenqueued} job(s) re-enqueued, {report.promoted_retries} delayed retr"
            f"{'y' if report.promoted_retries == 1 else 'ies'} promoted, "
            f"{report.stalled_batches} stalled batch(es) moved on."
        )
