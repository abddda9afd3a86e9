"""Settings for the test suite.

BATCHQUEUE_TEST_DB picks the database: "sqlite" (default, a file so worker subprocesses can share
it) or "postgres" (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test).
BATCHQUEUE_TEST_REDIS is the Redis database the tests own (default redis://127.0.0.1:6379/15);
the suite refuses to run on a Redis database holding keys it did not write.
"""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "tests-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_rq",
    "rest_framework",
    "django_batchqueue",
    "tests.testapp",
]
try:  # Django 5.2: the backport of django.tasks (Django 6 has it built in)
    import django.tasks  # noqa: F401
except ImportError:
    try:
        import django_tasks  # noqa: F401

        INSTALLED_APPS.append("django_tasks")
    except ImportError:
        pass

# Django's Tasks framework on this app (contract §12).
TASKS = {
    "default": {
        "BACKEND": "django_batchqueue.tasks.BatchQueueBackend",
        "QUEUES": ["default", "email-processing"],
    }
}

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_batchqueue.middleware.BatchUserMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
STATIC_URL = "/static/"

DB_KIND = os.environ.get("BATCHQUEUE_TEST_DB", "sqlite")
if DB_KIND == "postgres":
    DATABASES = {
        "default": dj_database_url.parse(
            os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"),
            conn_max_age=None,
        )
    }
    DATABASES["default"]["TEST"] = {
        "NAME": os.environ.get("BATCHQUEUE_TEST_PG_NAME", "test_batchqueue")
    }
else:
    (BASE_DIR.parent / ".local").mkdir(exist_ok=True)
    sqlite_file = os.environ.get(
        "BATCHQUEUE_TEST_SQLITE", str(BASE_DIR.parent / ".local" / "test_batchqueue.sqlite3")
    )
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": sqlite_file,
            "TEST": {"NAME": sqlite_file},
            "CONN_MAX_AGE": None,
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
# Worker subprocesses are pointed at the test database (pytest-django renames it in-process).
if os.environ.get("BATCHQUEUE_DB_NAME"):
    DATABASES["default"]["NAME"] = os.environ["BATCHQUEUE_DB_NAME"]

REDIS_URL = os.environ.get("BATCHQUEUE_TEST_REDIS", "redis://127.0.0.1:6379/15")
RQ_QUEUES = {
    "batchjob": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 60},
    "email-chain": {"URL": REDIS_URL},
    "other": {"URL": REDIS_URL},
    # RQ's JSON serializer: a Redis writer cannot smuggle a pickle to these workers.
    "secure": {"URL": REDIS_URL, "SERIALIZER": "rq.serializers.JSONSerializer"},
}
# The worker the README recommends, unless a test picks another.
RQ = {
    "WORKER_CLASS": os.environ.get(
        "BATCHQUEUE_TEST_WORKER_CLASS", "django_batchqueue.worker.PersistentBatchWorker"
    )
}
BATCHQUEUE = {
    # BATCHQUEUE_TEST_STORAGE=redis runs the suite's Redis-storage tier on the storage it names.
    "STORAGE": os.environ.get("BATCHQUEUE_TEST_STORAGE", "sql"),
    "NAMED_QUEUES": {"email-processing": "email-chain"},
    "JOB_MODULES": ["bench"],  # the stress test runs bench/stress_jobs.py
    # Crash tests shorten these (worker subprocesses read them from the environment).
    "WORKER_HEARTBEAT_TTL": int(os.environ.get("BATCHQUEUE_TEST_HEARTBEAT_TTL", "15")),
    "RECONCILE_INTERVAL": int(os.environ.get("BATCHQUEUE_TEST_RECONCILE_INTERVAL", "15")),
    "RECONCILE_GRACE": int(os.environ.get("BATCHQUEUE_TEST_RECONCILE_GRACE", "30")),
    "TIMEOUT_GRACE": int(os.environ.get("BATCHQUEUE_TEST_TIMEOUT_GRACE", "30")),
    "HORSE_MAX_JOBS": int(os.environ.get("BATCHQUEUE_TEST_HORSE_MAX_JOBS", "1000")),
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_batchqueue": {"handlers": ["console"], "level": "WARNING"}},
}
