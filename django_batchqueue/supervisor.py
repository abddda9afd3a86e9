"""Supervising one long-lived work horse: crash isolation without a fork per job.

:class:`~django_batchqueue.worker.PersistentBatchWorker` forks a work horse once; the horse runs
the simple worker's loop for up to ``HORSE_MAX_JOBS`` jobs, telling its parent over a pipe when
each job begins (with its deadline) and ends. The parent only watches:

- the horse dies (killed, out of memory, ``os._exit``) mid-job: the parent records that run as
  a failed attempt at once (retried by the job's policy) and forks a new horse;
- the horse overruns a job's deadline (its timeout plus twice ``TIMEOUT_GRACE``, once the
  horse's own timeout escalation had its chance; a job stuck where signals are not delivered):
  the parent kills it, records the run, forks a new one;
- the horse ends its round of jobs: a new horse is forked (memory a job leaked goes with it);
- SIGTERM / SIGINT: passed on to the horse (a second one stops it at once); the parent exits
  once the horse has.

The parent opens no Redis loop and holds no database connection across a fork.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connections

logger = logging.getLogger(__name__)

#: Exit status of a horse that ended its round of jobs and should be replaced.
ROUND_DONE = 0
#: Exit status of a horse that stops for good (stop requested, burst done, max jobs reached).
STOPPED = 3
#: Shortest life of a horse before the parent slows down forking new ones.
CRASH_LOOP_SECONDS = 1.0


@dataclass
class Running:
    """The job a horse said it began, and by when it must end."""

    row_id: str | None
    rq_job_id: str
    deadline: float


class Reports:
    """The horse's side of the pipe: one short line per job begin and end."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def begin(self, row_id: str | None, rq_job_id: str, seconds: float) -> None:
        self._send(f"begin {row_id or '-'} {rq_job_id} {seconds:.3f}")

    def end(self) -> None:
        self._send("end")

    def _send(self, line: str) -> None:
        with contextlib.suppress(OSError):  # the parent is gone: die_with_parent ends us
            os.write(self.fd, (line + "\n").encode())


class Supervisor:
    """The parent's loop (see the module docstring)."""

    def __init__(
        self,
        run_horse: Callable[[Reports], int],
        record_lost: Callable[[Running, str], None],
        name: str,
    ) -> None:
        self.run_horse = run_horse
        self.record_lost = record_lost
        self.name = name
        self.stopping = 0  # signals received
        self.horse_pid = 0
        self.horses = 0

    # -- signals ----------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stopping += 1
        if self.horse_pid:
            # First signal: the horse finishes its job and stops; second: it stops now.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.horse_pid, signal.SIGTERM if self.stopping == 1 else signal.SIGINT)
            if self.stopping > 2:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.horse_pid, signal.SIGKILL)

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        while True:
            born = time.monotonic()
            status = self._one_horse()
            if self.stopping or status == STOPPED:
                return 0
            if status != ROUND_DONE and time.monotonic() - born < CRASH_LOOP_SECONDS:
                time.sleep(CRASH_LOOP_SECONDS)  # a horse that dies at once: don't spin

    def _one_horse(self) -> int:
        connections.close_all()  # a horse never inherits an open database connection
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the horse
            os.close(read_fd)
            code = 1
            try:
                code = self.run_horse(Reports(write_fd))
            except BaseException:
                logger.exception("batchqueue: work horse of %s failed", self.name)
            finally:
                os._exit(code)
        os.close(write_fd)
        self.horse_pid, self.horses = pid, self.horses + 1
        try:
            return self._watch(pid, read_fd)
        finally:
            os.close(read_fd)
            self.horse_pid = 0

    def _watch(self, pid: int, read_fd: int) -> int:
        running: Running | None = None
        buffer = b""
        killed_for = ""
        while True:
            timeout = 1.0
            if running is not None:
                timeout = max(0.0, min(timeout, running.deadline - time.monotonic()))
            with contextlib.suppress(InterruptedError):
                ready, _, _ = select.select([read_fd], [], [], timeout)
                if ready:
                    chunk = os.read(read_fd, 65536)
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        running = _parse(line.decode(), running)
            done, status = _reap(pid)
            if done:
                return self._ended(status, running, killed_for)
            if running is not None and time.monotonic() > running.deadline and not killed_for:
                killed_for = "was killed by its worker for running past its timeout"
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def _ended(self, status: int, running: Running | None, killed_for: str) -> int:
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        if running is not None:
            how = killed_for or how_it_ended(status)
            try:
                self.record_lost(running, f"WorkerLost: the work horse {how} while running the job")
            except Exception:
                logger.exception("batchqueue: could not record the lost run of %s", running.row_id)
            finally:
                connections.close_all()
            return -1
        if code in (ROUND_DONE, STOPPED):
            return code
        logger.warning("batchqueue: the work horse of %s %s", self.name, how_it_ended(status))
        return -1


def _parse(line: str, running: Running | None) -> Running | None:
    parts = line.split()
    if parts and parts[0] == "begin" and len(parts) == 4:
        row_id = None if parts[1] == "-" else parts[1]
        return Running(row_id, parts[2], time.monotonic() + float(parts[3]))
    if parts == ["end"]:
        return None
    return running


def _reap(pid: int) -> tuple[bool, int]:
    try:
        found, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True, 0
    return found == pid, status


def how_it_ended(status: int | None) -> str:
    """``was killed by signal 9`` or ``exited with code 1``, from a ``waitpid`` status."""
    if status is None:
        return "ended"
    if os.WIFSIGNALED(status):
        return f"was killed by signal {os.WTERMSIG(status)}"
    if os.WIFEXITED(status):
        return f"exited with code {os.WEXITSTATUS(status)}"
    return f"ended (wait status {status})"


def deadline_seconds(job: Any, grace: float) -> float:
    """How long the parent lets a horse run ``job``. A batch job's RQ timeout is its own
    timeout plus ``TIMEOUT_GRACE``; the horse's own escalation ends a job that ignores it one
    more grace period later (:func:`~django_batchqueue.execution.timeouts.job_timeout`), so the
    parent steps in a second after that: the job's timeout plus twice the grace, plus 1 s. A
    job without a timeout gets a day."""
    timeout = getattr(job, "timeout", None)
    if timeout is None or timeout < 0:
        return 86400.0
    return float(timeout) + grace + 1.0
