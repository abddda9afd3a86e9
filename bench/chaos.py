"""Chaos run: a mixed workload on real workers while processes, Redis and database connections
are killed under it; then a verdict comparing what really ran with what the rows say.

    python bench/chaos.py --minutes 3 --faults all                 # PostgreSQL (default)
    python bench/chaos.py --db sqlite --faults kill --jobs 20000
    python bench/chaos.py --worker-class django_batchqueue.worker.SimpleBatchWorker
    python bench/chaos.py --storage redis --faults kill,redis-aof   # batch state in Redis

Starts its own redis-server (``--redis-port``, an AOF under ``--redis-dir``) and 4
``manage.py rqworker batchjob`` processes, keeps about ``--in-flight`` batches running (strict
and allow-failures batches, sagas, chains and batches that add jobs, batches cancelled mid-run;
see bench/chaos_workload.py) for ``--minutes`` or until ``--jobs`` job rows completed, and runs
``manage.py batchqueue_reconcile`` every ``--reconcile-every`` seconds like a cron. Faults
(``--faults``, comma-separated, default all): ``kill-worker`` (kill -9 of a worker's main
process), ``kill-horse`` (of its work horse), ``kill-group`` (of its whole process group), each
replaced at once; ``redis-empty`` / ``redis-aof`` (Redis killed -9 and restarted empty or from
its AOF); ``pg-terminate`` (``pg_terminate_backend`` of the workers' connections).

Jobs log every execution (bench/chaos_jobs.py) and every fault is recorded with the pids it
killed, in ``--out``. After the last fault it waits (``--settle-timeout``) until every batch and
row has settled, then checks (bench/chaos_verdict.py): lost jobs, double runs not explained by
a kill of the process running them, callbacks run twice or never, compensations twice or out of
order, cancelled jobs that ran, batches still open, counters that disagree with the rows; and
prints figures and the time from the last fault until everything settled. Exit status 1 on any
violation.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.chaos_faults import (  # noqa: E402
    ALL_FAULTS,
    PG,
    WORKER_APPNAME,
    Injector,
    RedisServer,
    Schedule,
    WorkerPool,
    parse_faults,
    port_is_free,
    terminate_worker_backends,
)
from bench.chaos_jobs import LOG_ENV  # noqa: E402
from bench.chaos_settle import Late, report_late, wait_settled  # noqa: E402
from bench.chaos_verdict import Verdict, judge, load_runs  # noqa: E402
from bench.chaos_workload import Workload  # noqa: E402

BATCH_WORKER = "django_batchqueue.worker.BatchWorker"
Spawn = Callable[[dict[str, str]], "subprocess.Popen[Any]"]


@dataclass
class Config:
    minutes: float = 3.0
    jobs: int | None = None
    faults: tuple[str, ...] = ALL_FAULTS
    workers: int = 4
    in_flight: int = 24
    settle_timeout: float = 600.0
    #: Rows still open this long after the last fault are violations ("slow to settle").
    settle_limit: float = 120.0
    reconcile_every: float = 15.0
    schedule: Schedule = field(default_factory=Schedule)
    seed: int = 1
    quiet: bool = False


@dataclass
class Result:
    verdict: Verdict
    faults: Counter[str]
    skipped: Counter[str]
    settled: bool
    settle_seconds: float | None  # from the last fault (or the end of the workload) until settled
    figures: Counter[str]
    out: Path

    @property
    def clean(self) -> bool:
        return self.settled and not self.verdict.violations


class Cron:
    """``manage.py batchqueue_reconcile`` every ``every`` seconds, in a thread."""

    def __init__(self, every: float, env: dict[str, str], log: Path) -> None:
        self.every, self.env, self.log = every, env, log
        self.passes = self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="chaos-cron", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=180)

    def _loop(self) -> None:
        cmd = [sys.executable, str(ROOT / "manage.py"), "batchqueue_reconcile"]
        while not self._stop.wait(self.every):
            started = time.time()
            try:
                out = subprocess.run(
                    cmd, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=150
                )
                ok, text = out.returncode == 0, out.stdout + out.stderr
            except subprocess.TimeoutExpired:
                ok, text = False, "timed out after 150 s\n"
            self.passes += 1
            self.failures += not ok
            with self.log.open("a") as f:
                f.write(f"--- {started:.3f} ({time.time() - started:.1f}s, ok={ok})\n{text}")


def run_chaos(
    config: Config,
    *,
    out: Path,
    spawn: Spawn,
    env: dict[str, str],
    redis: RedisServer | None,
    pg: bool,
) -> Result:
    """Run the workload under faults, wait for it to settle, judge it.

    ``spawn(extra_env)`` starts one worker process (in a session of its own) with ``extra_env``
    added to its environment; ``env`` is the full environment of the reconcile cron. Django is
    set up by the caller, on the database and Redis the workers use.
    """
    out.mkdir(parents=True, exist_ok=True)
    with _log_to(out / "main.log"):
        return _run(config, out=out, spawn=spawn, env=env, redis=redis, pg=pg)


def _run(
    config: Config,
    *,
    out: Path,
    spawn: Spawn,
    env: dict[str, str],
    redis: RedisServer | None,
    pg: bool,
) -> Result:
    from django.db import connections

    from django_batchqueue import BatchManager

    log_path = out / "jobs.log"
    extra = {LOG_ENV: str(log_path), "PGAPPNAME": WORKER_APPNAME}
    rng = random.Random(config.seed)
    pool = WorkerPool(lambda more: spawn({**extra, **more}), config.workers)
    faults = tuple(k for k in config.faults if pg or k not in PG)
    injector = Injector(
        faults,
        pool,
        redis,
        config.schedule,
        out / "faults.jsonl",
        rng,
        terminate_worker_backends if pg else None,
    )
    cron = Cron(config.reconcile_every, {**env, LOG_ENV: str(log_path)}, out / "reconcile.log")
    workload = Workload(random.Random(config.seed + 1), in_flight=config.in_flight)
    manager = BatchManager()
    say = (lambda *_: None) if config.quiet else print
    figures: Counter[str] = Counter()

    pool.start()
    injector.start()
    cron.start()
    started = time.time()
    deadline = started + config.minutes * 60
    completions, next_report = 0, started + 10
    try:
        while time.time() < deadline and (config.jobs is None or completions < config.jobs):
            workload.step(manager)
            time.sleep(0.5)
            if time.time() >= next_report:
                next_report += 10
                try:
                    completions = workload.tracker.completions(workload.batches)
                except Exception:
                    connections.close_all()
                say(
                    f"  {time.time() - started:5.0f}s: {completions} completions, "
                    f"{len(workload.batches)} batches, faults {dict(injector.counts())}, "
                    f"{len(pool.quit_on_their_own)} workers quit on their own"
                )
        injector.stop_faults()
        injector.wait_idle()
        workload_end = time.time()
        workload.cancel_due(manager, force=True)
        last = max(injector.last_fault_end() or 0.0, workload_end)
        late: list[Late] = []
        settled_at = wait_settled(
            workload,
            timeout=config.settle_timeout,
            limit_at=last + config.settle_limit,
            late=late,
            say=say,
        )
    finally:
        injector.stop()
        cron.stop()
        pool.stop()
        connections.close_all()
    runs = load_runs(log_path)
    verdict = judge(workload.batches, runs, injector.faults, pool.quit_on_their_own, started)
    report_late(verdict, late, config.settle_limit, last)
    figures.update(
        {
            "seconds": int(workload_end - started),
            "workers started": pool.started,
            "workers quit on their own": len(pool.quit_on_their_own),
            "reconcile passes": cron.passes,
            "reconcile failures": cron.failures,
            "dispatch errors": workload.dispatch_errors,
            "cancelled by the workload": sum(bool(p.cancelled) for p in workload.batches.values()),
        }
    )
    return Result(
        verdict=verdict,
        faults=injector.counts(),
        skipped=injector.skipped,
        settled=settled_at is not None,
        settle_seconds=None if settled_at is None else max(0.0, settled_at - last),
        figures=figures,
        out=out,
    )


@contextlib.contextmanager
def _log_to(path: Path) -> Iterator[None]:
    """This process's warnings (enqueues failing while Redis is down, ...) go to a file, not to
    the console, for the length of the run."""
    logger = logging.getLogger("django_batchqueue")
    saved = logger.handlers[:], logger.propagate
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.handlers, logger.propagate = [handler], False
    try:
        yield
    finally:
        (logger.handlers, logger.propagate) = saved
        handler.close()


def report(result: Result, say: Callable[..., None] = print, limit: int = 40) -> None:
    v = result.verdict
    f = v.figures
    say(
        f"figures: {f['completions']} job completions in {result.figures['seconds']}s, "
        f"{f['runs']} runs logged, {f['batches']} batches "
        f"({', '.join(f'{k[8:]} {n}' for k, n in sorted(f.items()) if k.startswith('batches '))}), "
        f"{f['callbacks']} callbacks, {f['compensations']} compensations"
    )
    say(f"faults: {dict(result.faults)}; not applicable at the moment: {dict(result.skipped)}")
    say(
        f"explained: {f['re-runs explained by a kill']} re-runs after a kill (of which "
        f"{f['re-runs after the run finished (its worker was killed)']} had finished, their "
        "worker killed before it recorded them), "
        f"{f['failed attempts']} failed attempts retried, "
        f"{f['failed for good by WorkerLost']} rows failed for good by WorkerLost"
    )
    say(f"processes: {dict(result.figures)}")
    settle = "never" if result.settle_seconds is None else f"{result.settle_seconds:.1f}s"
    say(f"settled after the last fault: {settle}")
    (result.out / "violations.txt").write_text("\n".join(v.violations) + "\n")
    if v.violations:
        say(f"VIOLATIONS: {len(v.violations)} ({dict(v.by_type)}), all in {result.out}:")
        for line in v.violations[:limit]:
            say("   ", line)
    say("verdict:", "CLEAN" if result.clean else "VIOLATIONS")


# --------------------------------------------------------------------------------- the script


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    a = parser.add_argument
    a("--db", default="postgres", choices=["postgres", "sqlite"])
    a(
        "--storage",
        default="sql",
        choices=["sql", "redis"],
        help="where batch state lives; redis: on the run's own redis-server, with appendfsync "
        "always, and no redis-empty faults (an empty restart loses Redis-stored batches)",
    )
    a("--minutes", type=float, default=3.0)
    a("--jobs", type=int, default=None, help="stop once this many job rows completed")
    a("--faults", default="all", help=f"all, none, kill, redis or any of {', '.join(ALL_FAULTS)}")
    a("--worker-class", default=BATCH_WORKER)
    a("--workers", type=int, default=4)
    a("--in-flight", type=int, default=24, help="batches kept running at once")
    a("--kill-every", type=float, default=3.0)
    a("--redis-every", type=float, default=45.0)
    a("--redis-down", type=float, default=3.0)
    a("--pg-every", type=float, default=10.0)
    a("--reconcile-every", type=float, default=15.0)
    a("--settle-timeout", type=float, default=900.0, help="give up waiting after this")
    a(
        "--settle-limit",
        type=float,
        default=120.0,
        help="rows still open this long after the last fault are violations",
    )
    a("--redis-port", type=int, default=6391)
    a("--redis-dir", default="/tmp/chaos-redis")
    a("--pg-name", default="batchqueue_chaos")
    a("--out", default=None, help="directory for logs (default .local/chaos/<time>)")
    a("--seed", type=int, default=1)
    return parser.parse_args()


def main() -> int:
    args = _parse()
    faults = parse_faults(args.faults)
    if args.storage == "redis":
        faults = tuple(k for k in faults if k != "redis-empty")
        os.environ["BENCH_STORAGE"] = "redis"  # the workers and the reconcile cron inherit it
    if not port_is_free(args.redis_port):
        print(f"port {args.redis_port} is in use; pick another --redis-port")
        return 2
    out = Path(args.out or ROOT / ".local" / "chaos" / time.strftime("%Y%m%d-%H%M%S"))
    fsync = "always" if args.storage == "redis" else "everysec"
    redis = RedisServer(
        args.redis_port, Path(args.redis_dir) / str(args.redis_port), appendfsync=fsync
    )
    redis.wipe()
    redis.start()
    os.environ.update(BENCH_REDIS=redis.url, BENCH_PG_NAME=args.pg_name)
    from bench.run import _setup

    try:
        _setup(args.db)  # recreates the database (PostgreSQL) or the file (SQLite), migrates
        env = dict(os.environ, PYTHONPATH=str(ROOT), DJANGO_SETTINGS_MODULE="bench.settings")
        (out / "workers").mkdir(parents=True, exist_ok=True)
        count = iter(range(10**6))
        cmd = [sys.executable, str(ROOT / "manage.py"), "rqworker", "batchjob"]
        cmd += ["--worker-class", args.worker_class]

        def spawn(extra: dict[str, str]) -> subprocess.Popen[Any]:
            log = (out / "workers" / f"worker-{next(count)}.log").open("w")
            proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env={**env, **extra},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            log.close()
            return proc

        config = Config(
            minutes=args.minutes,
            jobs=args.jobs,
            faults=faults,
            workers=args.workers,
            in_flight=args.in_flight,
            settle_timeout=args.settle_timeout,
            settle_limit=args.settle_limit,
            reconcile_every=args.reconcile_every,
            schedule=Schedule(
                kill_every=args.kill_every,
                redis_every=args.redis_every,
                redis_down=args.redis_down,
                pg_every=args.pg_every,
            ),
            seed=args.seed,
        )
        print(
            f"chaos: {args.db}, {args.storage} storage, {args.workers} x {args.worker_class}, "
            f"faults {','.join(faults)}, "
            f"{args.minutes} min, logs in {out}"
        )
        result = run_chaos(
            config, out=out, spawn=spawn, env=env, redis=redis, pg=args.db == "postgres"
        )
    finally:
        redis.stop()
    report(result)
    return 0 if result.clean else 1


if __name__ == "__main__":
    sys.exit(main())
