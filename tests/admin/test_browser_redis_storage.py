"""The admin on Redis storage in a real browser (Playwright + Debian's Chromium), batches run
by real workers: the list follows progress live, the batch page shows the jobs and its Cancel
button works, and nothing is written to the ``Batch`` table."""

from __future__ import annotations

import pytest

from django_batchqueue import BatchManager
from django_batchqueue.models import Batch, BatchJob
from django_batchqueue.storage import get_storage
from tests.testapp.jobs import Slow

from .conftest import screenshot
from .test_browser import CHANGELIST, PCT, batch_url, log_in

pytestmark = [pytest.mark.worker, pytest.mark.usefixtures("transactional_db")]


@pytest.fixture(autouse=True)
def redis_storage(settings):
    settings.BATCHQUEUE = {**settings.BATCHQUEUE, "STORAGE": "redis"}
    get_storage().reset()


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser("operator", "op@example.com", "pw")


def test_the_list_and_page_follow_a_batch_stored_in_redis(page, live_server, operator, workers):
    manager = BatchManager()
    batch_id = (
        manager.batch([{"class": Slow, "args": {"seconds": 0.5}} for _ in range(6)])
        .name("Slow batch in Redis")
        .dispatch()
    )
    idle = manager.batch([{"class": Slow}]).queue("email-processing").name("Waiting").dispatch()
    log_in(page, live_server, "operator")
    assert page.url.endswith(CHANGELIST)
    pct = PCT.replace("{id}", str(batch_id))
    page.wait_for_selector(f'[data-bq-batch="{batch_id}"][data-bq-field="progress"]')
    assert page.evaluate(pct) == 0
    page.evaluate("window.__notReloaded = true")
    workers.start(1, worker_class="django_batchqueue.worker.PersistentBatchWorker")
    page.wait_for_function(f"() => ({pct})() === 100", polling=200, timeout=60_000)
    status = page.locator(f'[data-bq-batch="{batch_id}"][data-bq-field="status"]')
    page.wait_for_function(
        f'() => document.querySelector(\'[data-bq-batch="{batch_id}"][data-bq-field="status"]\')'
        ".textContent === 'Completed'",
        polling=200,
        timeout=20_000,
    )
    assert status.inner_text() == "Completed"
    assert page.evaluate("window.__notReloaded") is True
    screenshot(page, "redis-01-list-finished")

    page.click(f'a[href="{batch_url(batch_id)}"]')
    page.wait_for_selector("#bq-jobs")
    assert page.locator("#bq-jobs tbody tr").count() == 6
    assert page.locator("button.bq-button-cancel").count() == 0  # finished: nothing to cancel
    screenshot(page, "redis-02-batch-page")

    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{live_server.url}{batch_url(idle)}")
    page.click("button.bq-button-cancel")
    page.wait_for_selector(".messagelist")
    assert "Cancelled batch “Waiting”" in page.locator(".messagelist").inner_text()
    assert page.locator('[data-bq-field="status"]').first.inner_text() == "Cancelled"
    assert manager.get_batch(idle).status == "cancelled"
    assert (Batch.objects.count(), BatchJob.objects.count()) == (0, 0)
