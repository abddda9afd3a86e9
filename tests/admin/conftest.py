"""Fixtures for the admin tests: users with given permissions and batches made row by row."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from django_batchqueue.models import Batch, BatchJob


@pytest.fixture
def make_user(django_user_model):
    """A user with ``is_staff`` and the given ``django_batchqueue`` permission codenames."""

    def make(username: str, *codenames: str, staff: bool = True):
        user = django_user_model.objects.create_user(username, password="pw", is_staff=staff)
        if codenames:
            user.user_permissions.set(
                Permission.objects.filter(
                    content_type__app_label="django_batchqueue", codename__in=codenames
                )
            )
        return user

    return make


@pytest.fixture
def viewer_client(client, make_user):
    """Staff who may look at batches and jobs but not control them."""
    client.force_login(make_user("viewer", "view_batch", "view_batchjob"))
    return client


def make_batch(
    *,
    jobs: int = 3,
    type: str = "parallel",
    status: str = "running",
    completed: int = 0,
    failed: int = 0,
    name: str = "",
    queue: str = "batchjob",
    compensation_status: str | None = None,
    context: dict | None = None,
    job_path: str = "tests.testapp.jobs.Square",
) -> Batch:
    """A batch and its job rows as the engine would have left them (no queue involved)."""
    now = timezone.now()
    batch = Batch.objects.create(
        type=type,
        status=status,
        name=name,
        queue=queue,
        total_jobs=jobs,
        completed_jobs=completed,
        failed_jobs=failed,
        compensation_status=compensation_status,
        has_compensation=compensation_status is not None,
        context=context or {},
        started_at=now - timedelta(seconds=90),
        finished_at=now if status in ("completed", "failed", "cancelled") else None,
    )
    rows = []
    for position in range(jobs):
        if position < completed:
            state, error, result = "completed", "", {"n": position, "square": position**2}
        elif position < completed + failed:
            state, error, result = "failed", f"RuntimeError: job {position} broke", None
        else:
            state, error, result = "queued", "", None
        rows.append(
            BatchJob(
                batch=batch,
                kind="job",
                position=position,
                job_path=job_path,
                args={"n": position},
                status=state,
                attempts=1 if state != "queued" else 0,
                error=error,
                result=result,
                started_at=now - timedelta(seconds=60 - position) if state != "queued" else None,
                finished_at=now - timedelta(seconds=59 - position) if state != "queued" else None,
            )
        )
    BatchJob.objects.bulk_create(rows, batch_size=2000)
    return batch


# -- a real browser -----------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


def _no_browser(reason: str):
    """Skip locally; fail in CI (BATCHQUEUE_REQUIRE_BROWSER=1), where a browser must exist."""
    if os.environ.get("BATCHQUEUE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} and BATCHQUEUE_REQUIRE_BROWSER=1 (run scripts/ensure-chromium.sh)")
    pytest.skip(f"{reason} (run scripts/ensure-chromium.sh)")


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright, one per module (never ``playwright install``).

    Playwright's sync API runs an asyncio loop in this thread, which trips Django's
    async-unsafe check for ORM calls made by the test itself; the variable is set only while
    the browser is up.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _no_browser("playwright is not installed")
    if not os.path.exists(CHROMIUM):
        _no_browser(f"{CHROMIUM} is missing")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield chromium
            finally:
                chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(30_000)
    tab = context.new_page()
    yield tab
    context.close()


SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "admin"


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under artifacts/admin/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    return target
