"""The README's settings, copied into a brand-new project, work as written: ``check`` passes,
``migrate`` runs, and the README's worker runs a dispatched batch to the end.

Only the Redis URL is changed (to the test suite's own database); the project is made by
``django-admin startproject`` and keeps its SQLite database.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
QUICKSTART = ROOT / "docs" / "quickstart.md"
README_REDIS = "redis://localhost:6379/0"
WORKER_LINE = 'RQ = {"WORKER_CLASS": "django_batchqueue.worker.PersistentBatchWorker"}'

JOBS = """\
from decimal import Decimal

from django_batchqueue import Job


class PriceOrder(Job):
    def run(self, order_id):
        return Decimal("12.34") * order_id  # stored as JSON through Django's encoder
"""


def settings_blocks(page: Path) -> str:
    """The page's settings: ```python blocks that start with ``# settings.py`` or ``RQ =``."""
    blocks = re.findall(r"^```python\n(.*?)^```", page.read_text(), re.S | re.M)
    chosen = [b for b in blocks if b.startswith("# settings.py") or b.startswith("RQ =")]
    assert chosen, f"{page.name} has no settings block"
    return "\n".join(chosen)


def test_readme_and_quickstart_give_the_same_settings_and_the_same_advice():
    readme, quickstart = README.read_text(), QUICKSTART.read_text()
    assert settings_blocks(QUICKSTART) == settings_blocks(README)
    assert WORKER_LINE in settings_blocks(README)
    for page in (readme, quickstart):
        assert "django_batchqueue.worker.PersistentBatchWorker" in page
        assert "python manage.py batchqueue_reconcile` from cron" in page
        assert "--with-scheduler" in page
        assert '"rest_framework"` in `INSTALLED_APPS`' in page
        assert 'path("api/batchqueue/", include("django_batchqueue.api.urls"))' in page


def run(project: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python manage.py <args>`` in the project, with none of the test suite's settings."""
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"manage.py {args[0]} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.mark.worker
def test_readme_settings_in_a_new_project_pass_check_migrate_and_run_a_batch(tmp_path):
    block = settings_blocks(README)
    assert README_REDIS in block
    block = block.replace(README_REDIS, settings.REDIS_URL)
    assert set(re.findall(r"redis://[^\"'\s]+", block)) == {settings.REDIS_URL}

    project = tmp_path / "site"
    project.mkdir()
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "readme_site", str(project)],
        check=True,
        env={k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
    )
    (project / "shop").mkdir()
    (project / "shop" / "__init__.py").write_text("")
    (project / "shop" / "jobs.py").write_text(JOBS)
    settings_py = project / "readme_site" / "settings.py"
    settings_py.write_text(
        f"{settings_py.read_text()}\n\n{block}\n# The test's own app.\nINSTALLED_APPS += ['shop']\n"
    )

    check = run(project, "check")
    assert "System check identified no issues" in check.stdout, check.stdout + check.stderr
    run(project, "migrate", "--noinput")

    dispatch = run(
        project,
        "shell",
        "-c",
        "from django_batchqueue import BatchManager\n"
        "jobs = [{'class': 'shop.jobs.PriceOrder', 'args': {'order_id': n}} for n in (1, 2)]\n"
        "print(BatchManager().batch(jobs).name('README batch').dispatch())",
    )
    batch_id = str(uuid.UUID(dispatch.stdout.split()[-1]))

    worker = run(project, "rqworker", "batchjob", "--burst", timeout=180)
    shown = run(
        project,
        "shell",
        "-c",
        "import json\n"
        "from django_rq.workers import get_worker_class\n"
        "from django_batchqueue import BatchManager\n"
        "m = BatchManager()\n"
        f"bid = {batch_id!r}\n"
        "print(json.dumps({'progress': m.get_progress(bid), 'results': m.get_results(bid),\n"
        "                  'worker': get_worker_class().__name__}, default=str))",
    )
    report = json.loads(shown.stdout.strip().splitlines()[-1])
    # What `rqworker` ran, from the README's RQ line.
    assert report["worker"] == "PersistentBatchWorker"
    progress = report["progress"]
    assert (progress["status"], progress["completed_jobs"], progress["failed_jobs"]) == (
        "completed",
        2,
        0,
    ), f"{progress}\n--- worker output ---\n{worker.stdout}\n{worker.stderr}"
    assert sorted(report["results"].values()) == ["12.34", "24.68"]
