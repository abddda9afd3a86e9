"""``manage.py batchqueue_prune --hours=48 [--unfinished=72] [--dry-run]``"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from django_batchqueue.execution.control import prune


class Command(BaseCommand):
    help = (
        "Delete finished batches older than --hours (by finished_at) and, with --unfinished, "
        "pending or running batches created more than --unfinished hours ago, with their jobs."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--hours", type=float, default=48, help="age of finished batches to delete (default 48)"
        )
        parser.add_argument(
            "--unfinished",
            type=float,
            default=None,
            metavar="HOURS",
            help="also delete unfinished batches created this many hours ago",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="say what would be deleted, delete nothing"
        )

    def handle(
        self, *args: Any, hours: float, unfinished: float | None, dry_run: bool, **options: Any
    ) -> None:
        for name, value in (("--hours", hours), ("--unfinished", unfinished)):
            if value is not None and value < 0:
                raise CommandError(f"{name} must be >= 0, got {value:g}")
        report = prune(finished_hours=hours, unfinished_hours=unfinished, dry_run=dry_run)
        verb = "Would delete" if dry_run else "Deleted"
        parts = [f"{report.finished_batches} finished batch(es) older than {hours:g}h"]
        if unfinished is not None:
            parts.append(
                f"{report.unfinished_batches} unfinished batch(es) created more than "
                f"{unfinished:g}h ago"
            )
        self.stdout.write(f"{verb} {' and '.join(parts)}, with {report.jobs} job row(s).")
