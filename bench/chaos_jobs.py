"""Jobs of the chaos run (bench/chaos.py): every execution appends to a log the verdict reads.

Each run writes one ``start`` line before the job's work and one ``end`` line after it (with
``ok`` false when the job raises), as single ``write()`` calls on a file opened with
``O_APPEND``, so lines from concurrent processes never interleave and a process killed mid-run
leaves a ``start`` without an ``end``. A line names the row, its batch, the attempt, the
process (``pid``, ``ppid``, ``pgid``) and the number of the worker it belongs to (``w``, from
``CHAOS_WORKER``: a work horse runs in a process group of its own and may outlive its parent,
so pids alone cannot tell whose horse it was), so a re-run can be matched with the kill that
explains it. The log's path is
``CHAOS_LOG`` in the environment.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from django_batchqueue import Job

LOG_ENV = "CHAOS_LOG"
#: The number of the worker process (set by the chaos run when it starts one; a work horse
#: inherits it, and keeps it after its parent was killed).
WORKER_ENV = "CHAOS_WORKER"
#: Jobs meant to succeed are retried after a kill; a job killed this often may fail for good.
RETRIES = 8


def log_line(event: str, job: Job, **extra: Any) -> None:
    path = os.environ.get(LOG_ENV)
    if not path:
        return
    line = {
        "t": time.time(),
        "ev": event,
        "row": job.job_id,
        "batch": job.batch_id,
        "attempt": job.attempt,
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "pgid": os.getpgid(0),
        "w": int(os.environ.get(WORKER_ENV) or 0),
        **extra,
    }
    data = (json.dumps(line, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


class _Logged(Job):
    """Logs start and end around :meth:`work`."""

    max_retries = RETRIES
    kind = "job"

    def run(self, **kwargs: Any) -> Any:
        info = self.describe()
        log_line("start", self, kind=self.kind, **info)
        try:
            result = self.work(**kwargs)
        except BaseException as exc:
            log_line("end", self, kind=self.kind, ok=False, error=type(exc).__name__, **info)
            raise
        log_line("end", self, kind=self.kind, ok=True, **info)
        return result

    def describe(self) -> dict[str, Any]:
        return {"pos": self.position}

    def work(self, **kwargs: Any) -> Any:
        raise NotImplementedError


class ChaosJob(_Logged):
    """Sleeps ``sleep`` seconds; raises when ``fail`` (a failure the workload planned)."""

    def work(self, i: int = 0, sleep: float = 0.0, fail: bool = False) -> Any:  # type: ignore[override]
        if sleep:
            time.sleep(sleep)
        if fail:
            raise RuntimeError(f"planned failure of job {i}")
        return i


class ChaosStep(ChaosJob):
    """A chain step: also appends its name to the chain's context."""

    def work(self, i: int = 0, sleep: float = 0.0, fail: bool = False) -> Any:  # type: ignore[override]
        result = super().work(i=i, sleep=sleep, fail=fail)
        self.context.setdefault("steps", []).append(i)
        return result


class ChaosAdder(ChaosJob):
    """Adds ``add`` jobs to its own batch (dynamic addition from a running job), then sleeps."""

    def work(  # type: ignore[override]
        self, i: int = 0, sleep: float = 0.0, fail: bool = False, add: int = 2, step: bool = False
    ) -> Any:
        klass = "bench.chaos_jobs.ChaosStep" if step else "bench.chaos_jobs.ChaosJob"
        ids = self.add_jobs(
            [{"class": klass, "args": {"i": 1000 + i * 10 + k, "sleep": 0.05}} for k in range(add)]
        )
        log_line("added", self, kind=self.kind, ids=ids)
        return super().work(i=i, sleep=sleep, fail=fail)


class ChaosCallback(_Logged):
    """on_complete / on_failure: logs which one ran for which batch."""

    kind = "callback"

    def work(self, tag: str = "", **_: Any) -> Any:
        return tag

    def describe(self) -> dict[str, Any]:
        return {"pos": self.position}


class ChaosUndo(_Logged):
    """A compensation: logs the job it undoes and that job's position."""

    kind = "compensation"

    def work(self, **_: Any) -> Any:  # the original job's args, unused
        time.sleep(0.02)
        return None

    def describe(self) -> dict[str, Any]:
        info = self.compensation or {}
        return {"orig": info.get("original_job_id"), "opos": info.get("original_position")}
