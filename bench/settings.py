"""Benchmark settings: the example project's, with a database chosen by BENCH_DB."""

import os

import dj_database_url

from example_project.settings import *  # noqa: F403

DEBUG = False
BENCH_DB = os.environ.get("BENCH_DB", "sqlite")
if BENCH_DB == "postgres":
    DATABASES = {
        "default": dj_database_url.parse(
            os.environ.get("DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/postgres"),
            conn_max_age=None,
        )
    }
    DATABASES["default"]["NAME"] = os.environ.get("BENCH_PG_NAME", "batchqueue_bench")
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(REPO_DIR / ".local" / "bench.sqlite3"),  # noqa: F405
            "CONN_MAX_AGE": None,
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
REDIS_URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/14")
# bench/compare.py keeps one pool of workers per system under test, each on its own queue.
BENCH_QUEUES = ("batchjob", "bench-simple", "bench-persistent", "raw-fork", "raw-simple")
RQ_QUEUES = {name: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 300} for name in BENCH_QUEUES}
BATCHQUEUE = {
    # BENCH_STORAGE=redis: batch state on Redis storage (bench/run.py --db redis).
    "STORAGE": os.environ.get("BENCH_STORAGE", "sql"),
    "JOB_MODULES": ["bench"],
    # Raw RQ's throughput is read from RQ's per-worker success counters, which a recycled
    # PersistentBatchWorker horse takes with it: no recycling during a bench run.
    "HORSE_MAX_JOBS": 1_000_000,
}
LOGGING = {"version": 1, "disable_existing_loggers": False}
