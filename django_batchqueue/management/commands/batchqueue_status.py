"""``manage.py batchqueue_status [BATCH_ID] [--watch] [--interval=1] [--limit=20]``

Like ``rq info`` for batches: the running and pending batches with a progress bar each, or one
batch in detail; ``--watch`` redraws until interrupted (or, following one batch, until it
finishes). Reads through the storage interface, so it works on every storage backend.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from django_batchqueue import terminal
from django_batchqueue.exceptions import BatchNotFound
from django_batchqueue.execution.control import parse_batch_id
from django_batchqueue.manager import progress_for
from django_batchqueue.states import BatchStatus
from django_batchqueue.storage import get_storage
from django_batchqueue.storage.base import BatchQuery

CLEAR = "\x1b[H\x1b[2J"


class Command(BaseCommand):
    help = (
        "Show the running and pending batches with progress bars (done, failed, rate, ETA), "
        "or one batch in detail; --watch keeps the view live."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("batch_id", nargs="?", help="follow this batch instead of the list")
        parser.add_argument(
            "--watch",
            action="store_true",
            help="redraw every --interval seconds; following one batch, stop when it finishes",
        )
        parser.add_argument(
            "--interval", type=float, default=1.0, help="seconds between redraws (default 1)"
        )
        parser.add_argument(
            "--limit", type=int, default=20, help="most batches listed per status (default 20)"
        )
        parser.add_argument(
            "--iterations",
            type=int,
            default=0,
            help="with --watch, stop after this many redraws (default 0: no limit)",
        )
        parser.add_argument("--ascii", action="store_true", help="draw bars with # and .")

    def handle(
        self,
        *args: Any,
        batch_id: str | None,
        watch: bool,
        interval: float,
        limit: int,
        iterations: int,
        ascii: bool,
        **options: Any,
    ) -> None:
        if interval < 0 or limit < 1 or iterations < 0:
            raise CommandError("--interval must be >= 0, --limit >= 1 and --iterations >= 0")
        self.ascii = ascii or not _can_draw_blocks(self.stdout)
        self.meter = terminal.RateMeter()
        is_tty = self.stdout.isatty()
        uid = _parse(batch_id) if batch_id else None
        frame = 0
        try:
            while True:
                frame += 1
                lines, finished = self.batch_frame(uid) if uid else (self.list_frame(limit), None)
                if watch and is_tty:
                    self.stdout.write(CLEAR, ending="")
                elif frame > 1:
                    self.stdout.write("")
                self.stdout.write("\n".join(lines))
                if not watch or finished or (iterations and frame >= iterations):
                    break
                time.sleep(interval)
        except KeyboardInterrupt:
            self.stdout.write("")
            return
        if watch and finished in (BatchStatus.FAILED, BatchStatus.CANCELLED):
            raise CommandError(f"batch {uid} ended {finished}", returncode=1)

    # -- one batch ---------------------------------------------------------------------------

    def batch_frame(self, uid: Any) -> tuple[list[str], str | None]:
        """The lines about one batch, and its status once it has finished."""
        batch = get_storage().progress_of([uid]).get(uid)
        if batch is None:
            raise CommandError(f"no batch with id {str(uid)!r}")
        progress = progress_for(batch)
        done, total = terminal.leaf_done(progress)
        rate = None if batch.is_finished else self.meter.rate(str(uid), done, batch.started_at)
        leaf = progress["leaf"]
        name = f" “{batch.name}”" if batch.name else ""
        compensation = (
            f" (compensation {batch.compensation_status})" if batch.compensation_status else ""
        )
        took = terminal.duration(terminal.elapsed(batch.started_at, batch.finished_at))
        jobs = (
            f"{leaf['completed_jobs']} completed, {leaf['failed_jobs']} failed, "
            f"{leaf['cancelled_jobs']} cancelled of {total}"
        )
        timing = f"elapsed {took}"
        if not batch.is_finished:
            jobs += f" ({batch.active_jobs} queued or running, {batch.waiting_jobs} waiting)"
            left = terminal.duration(terminal.eta(done, total, rate))
            timing += f", {_rate(rate)}, ETA {left}"
        percentage = progress["progress_percentage"]
        lines = [
            f"Batch {batch.pk}{name}: {terminal.type_label(batch.type)} on queue {batch.queue}",
            f"  status    {batch.status}{compensation}",
            f"  progress  {terminal.bar(percentage, 40, self.ascii)} {percentage:>3}%",
            f"  jobs      {jobs}",
            f"  time      {timing}",
        ]
        if batch.error:
            lines.append(f"  error     {batch.error.splitlines()[0][:200]}")
        return lines, batch.status if batch.is_finished else None

    # -- the list ----------------------------------------------------------------------------

    def list_frame(self, limit: int) -> list[str]:
        storage = get_storage()
        lines: list[str] = []
        for status in (BatchStatus.RUNNING, BatchStatus.PENDING):
            query = BatchQuery(status=status)
            count = storage.count_batches(query)
            batches = storage.list_batches(query, 0, limit) if count else []
            shown = f" (newest {len(batches)} shown)" if count > len(batches) else ""
            lines.append(f"{count} {status} batch{'es' if count != 1 else ''}{shown}")
            lines.extend(self.list_line(batch) for batch in batches)
        return lines

    def list_line(self, batch: Any) -> str:
        progress = progress_for(batch)
        done, total = terminal.leaf_done(progress)
        rate = self.meter.rate(str(batch.pk), done, batch.started_at)
        name = (batch.name or "-")[:24]
        failed = progress["leaf"]["failed_jobs"]
        return (
            f"  {batch.pk}  {name:<24}  {terminal.type_label(batch.type):<8}  "
            f"{terminal.bar(progress['progress_percentage'], 20, self.ascii)} "
            f"{progress['progress_percentage']:>3}%  {done:>6}/{total:<6} {failed:>4} failed  "
            f"{_rate(rate):>12}  ETA {terminal.duration(terminal.eta(done, total, rate))}"
        )


def _parse(batch_id: str) -> Any:
    try:
        return parse_batch_id(batch_id)
    except BatchNotFound as exc:
        raise CommandError(str(exc)) from None


def _rate(rate: float | None) -> str:
    return "- jobs/s" if rate is None else f"{rate:.1f} jobs/s"


def _can_draw_blocks(stream: Any) -> bool:
    encoding = getattr(getattr(stream, "_out", stream), "encoding", None) or ""
    return encoding.lower().replace("-", "") in ("utf8", "utf16", "utf32")
