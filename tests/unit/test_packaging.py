"""What a user installing the package sees: the metadata in pyproject.toml is complete and honest,
the README works from the package index page, and the core needs none of the API's dependencies."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

import django_batchqueue

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = CONFIG["project"]
HOME = PROJECT["urls"]["Source"]


def requirement(name: str, requirements: list[str]) -> Requirement:
    (found,) = [r for r in map(Requirement, requirements) if r.name == name]
    return found


def test_license_is_an_spdx_expression_with_its_file():
    assert PROJECT["license"] == "MIT"
    assert PROJECT["license-files"] == ["LICENSE"]
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    # setuptools refuses a license classifier next to an SPDX expression
    assert not [c for c in PROJECT["classifiers"] if c.startswith("License ::")]


def test_classifiers_name_the_versions_tested():
    classifiers = set(PROJECT["classifiers"])
    assert {
        "Framework :: Django",
        "Framework :: Django :: 5.2",
        "Framework :: Django :: 6.0",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Typing :: Typed",
    } <= classifiers
    assert (ROOT / "django_batchqueue" / "py.typed").is_file()
    assert PROJECT["requires-python"] == ">=3.11"


def test_version_is_written_once():
    assert "version" not in PROJECT
    assert PROJECT["dynamic"] == ["version"]
    assert CONFIG["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "django_batchqueue.__version__"
    }
    Version(django_batchqueue.__version__)  # a valid version
    # the changelog has a section for the version
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"\n## {django_batchqueue.__version__} " in changelog


def test_project_urls_are_absolute():
    assert set(PROJECT["urls"]) >= {"Homepage", "Documentation", "Source", "Issues", "Changelog"}
    assert all(url.startswith("https://") for url in PROJECT["urls"].values())


def test_development_dependencies_are_a_group_not_a_published_extra():
    assert "dev" not in PROJECT.get("optional-dependencies", {})
    dev = {Requirement(r).name for r in CONFIG["dependency-groups"]["dev"]}
    assert {"pytest", "pytest-django", "ruff", "mypy", "django-stubs"} <= dev


def test_api_dependencies_are_an_extra():
    core = {Requirement(r).name for r in PROJECT["dependencies"]}
    api = {Requirement(r).name for r in PROJECT["optional-dependencies"]["api"]}
    assert api == {"djangorestframework", "drf-spectacular", "django-filter"}
    assert not core & api


def test_rq_major_version_is_bounded():
    """BatchWorker overrides RQ internals: an untested major version must not be installed."""
    rq = requirement("rq", PROJECT["dependencies"])
    assert Version("2.0") in rq.specifier
    assert Version("3.9") in rq.specifier
    assert Version("4.0") not in rq.specifier


def test_readme_links_work_from_the_package_index_page():
    """The index page shows the README without the repository: every link is absolute, and
    those into this repository name a file that exists."""
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", readme)
    assert targets
    relative = [t for t in targets if "://" not in t and not t.startswith("mailto:")]
    assert relative == []
    prefix = f"{HOME}/blob/main/"
    ours = [t.split("#")[0].removeprefix(prefix) for t in targets if t.startswith(prefix)]
    assert ours
    assert [path for path in ours if not (ROOT / path).exists()] == []


def test_core_needs_no_api_dependencies():
    """With DRF, drf-spectacular and django-filter impossible to import, the package imports
    and ``manage.py check`` passes on a project that does not mount the API."""
    script = textwrap.dedent(
        """
        import importlib.abc, sys

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {"rest_framework", "drf_spectacular", "django_filters"}:
                    raise ImportError(f"{name} is blocked")

        sys.meta_path.insert(0, Block())

        import django
        from django.conf import settings
        from django.urls import path

        settings.configure(
            SECRET_KEY="x",
            ROOT_URLCONF=__name__,
            DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
            INSTALLED_APPS=[
                "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
                "django.contrib.sessions", "django.contrib.messages", "django_rq",
                "django_batchqueue",
            ],
            MIDDLEWARE=[
                "django.contrib.sessions.middleware.SessionMiddleware",
                "django.contrib.auth.middleware.AuthenticationMiddleware",
                "django.contrib.messages.middleware.MessageMiddleware",
            ],
            TEMPLATES=[{
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {"context_processors": [
                    "django.template.context_processors.request",
                    "django.contrib.auth.context_processors.auth",
                    "django.contrib.messages.context_processors.messages",
                ]},
            }],
            RQ_QUEUES={"batchjob": {"URL": "redis://127.0.0.1:6379/0"}},
            DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        )
        django.setup()
        from django.contrib import admin

        urlpatterns = [path("admin/", admin.site.urls)]

        from django.core.management import call_command

        import django_batchqueue
        from django_batchqueue import BatchManager, Job, batch, chain  # noqa
        import django_batchqueue.admin, django_batchqueue.tasks  # noqa
        call_command("check", fail_level="WARNING")
        assert "rest_framework" not in sys.modules
        print("core ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "core ok" in done.stdout
