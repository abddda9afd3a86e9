"""System checks: every BATCHQUEUE key refuses bad values by name, django_rq must be installed,
and a mounted REST API needs rest_framework. A bad setting fails ``manage.py check`` (and so
``migrate``) instead of a dispatch or a page later."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from django_batchqueue import checks, conf, settings_schema

ROOT = Path(__file__).resolve().parents[2]
QUEUES = {"batchjob": {"URL": "redis://127.0.0.1:6379/15"}, "email-chain": {"URL": "x"}}

# (key, bad value, what the message must quote)
BAD = [
    ("DEFAULT_QUEUE", "nowhere", "'nowhere'"),
    ("DEFAULT_QUEUE", 5, "5"),
    ("DEFAULT_QUEUE", "", "''"),
    ("NAMED_QUEUES", {"email-processing": "missing"}, "'missing'"),
    ("NAMED_QUEUES", ["email-chain"], "['email-chain']"),
    ("NAMED_QUEUES", {"mail": 7}, "7"),
    ("NAMED_QUEUES", {3: "batchjob"}, "3"),
    ("STORAGE", "mongo", "'mongo'"),
    ("STORAGE", None, "None"),
    ("REDIS_TTL", -1, "-1"),
    ("REDIS_TTL", "7d", "'7d'"),
    ("REDIS_STORAGE_URL", "127.0.0.1:6379", "'127.0.0.1:6379'"),
    ("MAX_PAYLOAD_BYTES", "lots", "'lots'"),
    ("MAX_PAYLOAD_BYTES", 0, "0"),
    ("MAX_PAYLOAD_BYTES", -5, "-5"),
    ("MAX_PAYLOAD_BYTES", True, "True"),
    ("MAX_PAYLOAD_BYTES", 1.5, "1.5"),
    ("JOB_MODULES", "shop", "'shop'"),
    ("JOB_MODULES", ["shop", "not a module"], "'not a module'"),
    ("JOB_MODULES", ["shop", None], "None"),
    ("JOB_MODULES", {"shop": 1}, "{'shop': 1}"),
    ("TIMEOUT_GRACE", -1, "-1"),
    ("TIMEOUT_GRACE", "30", "'30'"),
    ("TIMEOUT_GRACE", float("nan"), "nan"),
    ("RQ_FAILURE_TTL", 0, "0"),
    ("RQ_FAILURE_TTL", "1d", "'1d'"),
    ("RQ_FAILURE_TTL", 1.5, "1.5"),
    ("RECONCILE_GRACE", -0.5, "-0.5"),
    ("RECONCILE_GRACE", None, "None"),
    ("RECONCILE_LIMIT", 0, "0"),
    ("RECONCILE_LIMIT", "2000", "'2000'"),
    ("RECONCILE_INTERVAL", 0, "0"),
    ("RECONCILE_INTERVAL", False, "False"),
    ("RECONCILE_INTERVAL", float("inf"), "inf"),
    ("WORKER_HEARTBEAT_TTL", -15, "-15"),
    ("WORKER_HEARTBEAT_TTL", "15", "'15'"),
    ("ASYNC_JOB_COMMITS", "yes", "'yes'"),
    ("ASYNC_JOB_COMMITS", 1, "1"),
    ("API_USERS_SEE_OWN_BATCHES", "false", "'false'"),
    ("API_USERS_SEE_OWN_BATCHES", None, "None"),
    ("API_PERMISSION_CLASSES", "rest_framework.permissions.IsAdminUser", "'rest_framework"),
    ("API_PERMISSION_CLASSES", ["shop.permissions.Missing"], "'shop.permissions.Missing'"),
    ("API_PERMISSION_CLASSES", ["rest_framework.permissions.Nope"], "Nope"),
    ("API_PERMISSION_CLASSES", ["IsAdminUser"], "'IsAdminUser'"),
    ("API_PERMISSION_CLASSES", ["rest_framework.permissions.SAFE_METHODS"], "SAFE_METHODS"),
]

GOOD = [
    ("DEFAULT_QUEUE", "email-chain"),
    ("NAMED_QUEUES", {"email-processing": "email-chain", "bulk": "batchjob"}),
    ("NAMED_QUEUES", {}),
    ("NAMED_QUEUES", None),
    ("STORAGE", "sql"),
    ("MAX_PAYLOAD_BYTES", 1),
    ("JOB_MODULES", []),
    ("JOB_MODULES", ("shop", "billing.tasks")),
    ("TIMEOUT_GRACE", 0),
    ("TIMEOUT_GRACE", 2.5),
    ("RQ_FAILURE_TTL", 60),
    ("RQ_FAILURE_TTL", -1),
    ("RECONCILE_GRACE", 0),
    ("RECONCILE_LIMIT", 10),
    ("RECONCILE_INTERVAL", 0.5),
    ("WORKER_HEARTBEAT_TTL", 5),
    ("ASYNC_JOB_COMMITS", False),
    ("API_USERS_SEE_OWN_BATCHES", True),
    ("API_PERMISSION_CLASSES", []),
    (
        "API_PERMISSION_CLASSES",
        ["rest_framework.permissions.IsAuthenticated", "rest_framework.permissions.IsAdminUser"],
    ),
]


def ids(messages) -> list[str]:
    return [m.id for m in messages]


@pytest.mark.parametrize(("key", "value", "quoted"), BAD, ids=lambda v: repr(v)[:40])
def test_a_bad_value_is_an_error_naming_key_and_value(key, value, quoted):
    with override_settings(RQ_QUEUES=QUEUES, BATCHQUEUE={key: value}):
        messages = checks.check_settings()
    assert ids(messages) == [settings_schema.KEY_IDS[key]], messages
    (message,) = messages
    assert message.is_serious()
    assert f"BATCHQUEUE[{key!r}]" in message.msg
    assert quoted in message.msg
    assert message.hint


@pytest.mark.parametrize(("key", "value"), GOOD, ids=lambda v: repr(v)[:40])
def test_a_good_value_passes(key, value):
    with override_settings(RQ_QUEUES=QUEUES, BATCHQUEUE={key: value}):
        assert checks.check_settings() == []


def test_a_bare_module_string_is_told_to_become_a_list():
    with override_settings(BATCHQUEUE={"JOB_MODULES": "shop"}):
        (message,) = checks.check_settings()
    assert message.id == "django_batchqueue.E005"
    assert "['shop']" in message.hint


def test_every_key_has_a_validator_and_an_id():
    assert set(settings_schema.VALIDATORS) == set(conf.DEFAULTS)
    assert set(settings_schema.KEY_IDS) == set(conf.DEFAULTS)
    assert len(set(settings_schema.KEY_IDS.values())) == len(settings_schema.KEY_IDS)


def test_the_defaults_pass_when_rq_queues_has_batchjob():
    with override_settings(RQ_QUEUES=QUEUES, BATCHQUEUE=dict(conf.DEFAULTS)):
        assert checks.check_settings() == []
    with override_settings(RQ_QUEUES=QUEUES):
        del settings.BATCHQUEUE
        assert checks.check_settings() == []


def test_the_default_queue_must_exist_even_when_not_configured():
    with override_settings(RQ_QUEUES={"other": {"URL": "x"}}, BATCHQUEUE={}):
        (message,) = checks.check_settings()
    assert message.id == "django_batchqueue.E001"
    assert "'batchjob'" in message.msg


def test_several_bad_keys_give_one_error_each():
    bad = {"MAX_PAYLOAD_BYTES": "lots", "JOB_MODULES": "shop", "STORAGE": "mongo"}
    with override_settings(RQ_QUEUES=QUEUES, BATCHQUEUE=bad):
        assert sorted(ids(checks.check_settings())) == [
            "django_batchqueue.E003",
            "django_batchqueue.E004",
            "django_batchqueue.E005",
        ]


def test_batchqueue_must_be_a_dict():
    with override_settings(BATCHQUEUE=["DEFAULT_QUEUE"]):
        assert ids(checks.check_settings()) == ["django_batchqueue.E015"]


def test_an_unknown_key_is_a_warning():
    with override_settings(RQ_QUEUES=QUEUES, BATCHQUEUE={"MAX_PAYLOAD": 10}):
        (message,) = checks.check_settings()
    assert message.id == "django_batchqueue.W001"
    assert "'MAX_PAYLOAD'" in message.msg and not message.is_serious()


def test_rq_queues_that_is_not_a_dict_does_not_crash_the_check():
    with override_settings(RQ_QUEUES=None, BATCHQUEUE={}):
        assert ids(checks.check_settings()) == ["django_batchqueue.E001"]


# Django 6's model checks ask the database whether it supports JSON fields.
@pytest.mark.django_db
def test_manage_py_check_fails_on_a_bad_value_and_names_it():
    with (
        override_settings(BATCHQUEUE={**settings.BATCHQUEUE, "MAX_PAYLOAD_BYTES": "lots"}),
        pytest.raises(SystemCheckError, match=r"django_batchqueue\.E004.*'lots'"),
    ):
        call_command("check")


@pytest.mark.django_db
def test_the_test_settings_pass_manage_py_check():
    call_command("check")  # raises SystemCheckError on any error


# -- installed apps -----------------------------------------------------------------------------


def without(*names: str) -> list[str]:
    return [app for app in settings.INSTALLED_APPS if app not in names]


def test_django_rq_missing_is_an_error_with_a_hint():
    with override_settings(INSTALLED_APPS=without("django_rq")):
        (message,) = checks.check_django_rq()
    assert message.id == "django_batchqueue.E020"
    assert "django_rq" in message.hint


def test_django_rq_installed_passes():
    assert checks.check_django_rq() == []


# -- the REST API mounted without rest_framework ------------------------------------------------


@pytest.mark.parametrize("urlconf", ["api_mounted", "api_nested"])
def test_api_mounted_without_rest_framework_is_an_error(urlconf):
    with override_settings(
        INSTALLED_APPS=without("rest_framework"), ROOT_URLCONF=f"tests.unit.urlconfs.{urlconf}"
    ):
        (message,) = checks.check_api_dependencies()
    assert message.id == "django_batchqueue.E021"
    assert "rest_framework" in message.hint and "django_batchqueue.api.urls" in message.msg


@pytest.mark.parametrize("urlconf", ["api_mounted", "api_nested"])
def test_api_mounted_with_rest_framework_passes(urlconf):
    with override_settings(ROOT_URLCONF=f"tests.unit.urlconfs.{urlconf}"):
        assert checks.api_is_mounted()
        assert checks.check_api_dependencies() == []


@pytest.mark.parametrize("urlconf", ["no_api", "broken", "tests.unit.urlconfs.nowhere"])
def test_no_api_or_a_broken_urlconf_gives_no_error_and_does_not_raise(urlconf):
    module = urlconf if "." in urlconf else f"tests.unit.urlconfs.{urlconf}"
    with override_settings(INSTALLED_APPS=without("rest_framework"), ROOT_URLCONF=module):
        assert checks.api_is_mounted() is False
        assert checks.check_api_dependencies() == []


def test_checks_do_not_import_rest_framework_when_the_api_is_not_mounted():
    """A project without the API (and maybe without DRF) pays nothing for the API check."""
    script = """
import sys
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django_rq",
                    "django_batchqueue"],
    ROOT_URLCONF="tests.unit.urlconfs.no_api",
    RQ_QUEUES={"batchjob": {"URL": "redis://127.0.0.1:6379/15"}},
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
)
django.setup()
from django.core import checks
messages = [m for m in checks.run_checks() if m.id.startswith("django_batchqueue")]
print("messages", messages)
print("drf imported", "rest_framework" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "messages []" in done.stdout
    assert "drf imported False" in done.stdout


# -- docs ---------------------------------------------------------------------------------------


def test_settings_doc_lists_every_key_with_its_check_id():
    doc = (ROOT / "docs" / "settings.md").read_text()
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([A-Z_]+)` \|.*$", doc, re.M)}
    for key, check_id in settings_schema.KEY_IDS.items():
        assert key in rows, f"docs/settings.md has no row for {key}"
        assert check_id.split(".")[1] in rows[key], f"{key}'s row does not name {check_id}"
