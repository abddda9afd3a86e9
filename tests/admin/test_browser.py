"""The admin in a real browser (Playwright + Debian's Chromium) against a live server, with
batches run by real RQ workers. Screenshots go to artifacts/admin/."""

from __future__ import annotations

import pytest

from django_batchqueue import BatchManager
from django_batchqueue.models import Batch
from django_batchqueue.testing import drain
from tests.conftest import wait_for
from tests.testapp.jobs import Gated, Maybe, Slow, Step, Undo
from tests.testapp.models import record

from .conftest import screenshot

pytestmark = [
    pytest.mark.sql_only(
        "the model admin's pages, over the Batch table (Redis storage: test_redis_storage.py)"
    ),
    pytest.mark.worker,
    pytest.mark.usefixtures("transactional_db"),
]

CHANGELIST = "/admin/django_batchqueue/batch/"
PCT = "() => parseInt(document.querySelector('[data-bq-batch=\"{id}\"] .bq-pct').textContent)"


def batch_url(batch_id) -> str:
    return f"{CHANGELIST}{batch_id}/change/"


def log_in(page, live_server, username: str, password: str = "pw", next_url: str = CHANGELIST):
    page.goto(f"{live_server.url}/admin/login/?next={next_url}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser("operator", "op@example.com", "pw")


def test_progress_advances_on_the_list_without_a_reload(page, live_server, operator, workers):
    batch_id = (
        BatchManager()
        .batch([{"class": Slow, "args": {"seconds": 0.8}} for _ in range(8)])
        .name("Slow parallel batch")
        .dispatch()
    )
    log_in(page, live_server, "operator")
    assert page.url.endswith(CHANGELIST)
    page.wait_for_selector(f'[data-bq-batch="{batch_id}"][data-bq-field="progress"]')
    assert page.evaluate(PCT.replace("{id}", str(batch_id))) == 0
    page.evaluate("window.__notReloaded = true")

    workers.start(1, worker_class="rq.SimpleWorker")
    pct = PCT.replace("{id}", str(batch_id))
    # Part-way: the bar moved, the batch is running, and this is still the same page.
    page.wait_for_function(f"() => ({pct})() > 0 && ({pct})() < 100", polling=200, timeout=60_000)
    status = page.locator(f'[data-bq-batch="{batch_id}"][data-bq-field="status"]')
    assert status.inner_text() == "Running"
    screenshot(page, "01-list-running")
    # Then done: 100 %, badge Completed, counters 8 / 0 / 8, and polling has stopped.
    page.wait_for_function(f"() => ({pct})() === 100", polling=200, timeout=60_000)
    page.wait_for_function(
        "() => document.documentElement.getAttribute('data-bq-polling') === 'stopped'",
        timeout=10_000,
    )
    assert status.inner_text() == "Completed"
    counts = page.locator(f'[data-bq-batch="{batch_id}"][data-bq-field="counts"]').inner_text()
    assert counts.replace(" ", "") == "8/0/8"
    assert page.evaluate("window.__notReloaded") is True
    assert Batch.objects.get(pk=batch_id).status == "completed"
    screenshot(page, "02-list-finished")


def test_failed_saga_shows_its_compensations(page, live_server, operator):
    batch_id = (
        BatchManager()
        .chain(
            [
                {"class": Step, "args": {"name": "reserve"}, "compensation": Undo},
                {"class": Step, "args": {"name": "charge"}, "compensation": Undo},
                {"class": Maybe, "args": {"name": "ship", "fail": True}, "compensation": Undo},
            ]
        )
        .set_context({"order_id": 1002, "note": "<script>alert('x')</script>"})
        .name("Checkout order 1002 (saga)")
        .dispatch()
    )
    drain()  # real RQ jobs, run in this process
    batch = Batch.objects.get(pk=batch_id)
    assert (batch.status, batch.compensation_status) == ("failed", "completed")

    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, live_server, "operator", next_url=batch_url(batch_id))
    page.wait_for_selector("#bq-compensations")
    assert page.locator('[data-bq-field="status"]').first.inner_text() == "Failed"
    assert page.locator('[data-bq-field="compensation"]').first.inner_text() == "Completed"
    jobs = page.locator("#bq-jobs tbody tr")
    assert jobs.count() == 3
    assert "RuntimeError: step ship failed" in jobs.nth(2).inner_text()
    compensations = page.locator("#bq-compensations tbody tr")
    assert compensations.count() == 2
    # Undone newest first: charge (position 1), then reserve (position 0); each marked.
    assert [compensations.nth(i).locator("td").first.inner_text() for i in range(2)] == ["1", "0"]
    assert compensations.locator(".bq-kind-tag-compensation").count() == 2
    timeline = page.locator("#bq-timeline tbody tr .bq-kind").all_inner_texts()
    assert [t.lower() for t in timeline] == ["job", "job", "job", "compensation", "compensation"]
    # The context is shown as text, never run.
    assert "<script>alert('x')</script>" in page.locator(".bq-json").first.inner_text()
    assert dialogs == []
    screenshot(page, "03-saga-compensated")


def test_retry_failed_from_the_batch_page(page, live_server, operator, workers):
    batch_id = (
        BatchManager()
        .chain([{"class": Gated, "args": {"name": n}} for n in ("fetch", "store")])
        .name("Import feed (gated)")
        .dispatch()
    )
    workers.start(1, worker_class="rq.SimpleWorker")
    wait_for(lambda: Batch.objects.get(pk=batch_id).status == "failed", message="the batch to fail")
    log_in(page, live_server, "operator", next_url=batch_url(batch_id))
    button = page.locator("button.bq-button-retry_failed")
    assert button.inner_text().lower() == "retry failed jobs"
    assert "gate closed" in page.locator("#bq-jobs").inner_text()
    screenshot(page, "04-batch-failed")

    record("gate-open")  # fix the cause, then retry from the admin
    button.click()
    page.wait_for_selector(".messagelist")
    # Drawn live (the first poll is 2.5 s away) unless the workers finished it first.
    drawn_live = page.locator('[data-bq-field="progress"][data-bq-live="1"]').count() > 0
    message = page.locator(".messagelist").inner_text()
    assert f"Batch “Import feed (gated)” ({batch_id}): re-queued 2 failed or cancelled jobs." in (
        message
    )
    # The page follows the retried batch live until it completes.
    page.wait_for_function(
        "() => document.querySelector('[data-bq-field=\"status\"]')?.textContent === 'Completed'",
        polling=200,
        timeout=60_000,
    )
    # The batch may read "Completed" a poll before it stops being live (its callbacks and
    # aftermath still running); polling stops once it is. A page that was live then says the
    # batch finished; one drawn after the retried batch had already finished (fast workers)
    # was never live and shows its final state as drawn.
    page.wait_for_function(
        "() => document.documentElement.getAttribute('data-bq-polling') === 'stopped'",
        timeout=30_000,
    )
    assert page.locator("#bq-finished-note").is_visible() == drawn_live
    assert page.locator(".bq-n-pending").inner_text() == "0"
    assert page.locator("button.bq-button-cancel").count() == 0  # no longer applies
    batch = Batch.objects.get(pk=batch_id)
    assert (batch.status, batch.completed_jobs, batch.context["steps"]) == (
        "completed",
        2,
        ["fetch", "store"],
    )
    screenshot(page, "05-batch-retried")
    page.reload()
    assert page.locator("#bq-jobs tbody tr .bq-badge").all_inner_texts() == [
        "Completed",
        "Completed",
    ]
    assert page.locator("button.bq-button").count() == 0


def test_non_staff_cannot_reach_the_admin(page, live_server, django_user_model):
    django_user_model.objects.create_user("customer", password="pw")
    batch_id = BatchManager().batch([Undo]).name("private").dispatch()
    log_in(page, live_server, "customer")
    assert "/admin/login/" in page.url
    assert "staff account" in page.locator(".errornote").inner_text()
    for path in (CHANGELIST, batch_url(batch_id), f"{CHANGELIST}progress/?ids={batch_id}"):
        page.goto(f"{live_server.url}{path}")
        assert "/admin/login/" in page.url, path
        assert "private" not in page.content()
    response = page.request.get(
        f"{live_server.url}{CHANGELIST}progress/?ids={batch_id}", max_redirects=0
    )
    assert response.status == 302 and "/admin/login/" in response.headers["location"]
    screenshot(page, "06-non-staff-login")


def test_a_tree_of_batches_is_browsed_from_parent_to_child_and_back(
    page, live_server, operator, workers
):
    from django_batchqueue import batch, chain

    root = (
        chain(
            [
                {"class": Step, "args": {"name": "prepare"}},
                batch(
                    [
                        chain([{"class": Slow, "args": {"seconds": 0.4}}] * 2).name(f"part {i}")
                        for i in range(3)
                    ]
                ).name("fan-out"),
                {"class": Step, "args": {"name": "finalize"}},
            ]
        )
        .name("Nightly import")
        .dispatch()
    )
    log_in(page, live_server, "operator", next_url=batch_url(root))
    page.wait_for_selector("#bq-children")
    children = page.locator("#bq-children tbody tr")
    assert children.count() == 1
    assert children.first.locator("a").inner_text() == "fan-out"
    workers.start(2, worker_class="django_batchqueue.worker.BatchWorker")
    # The parent's bar follows its leaf jobs while the nested batches run.
    page.wait_for_function(PCT.format(id=root) + " > 0", polling=200, timeout=60_000)
    screenshot(page, "06-tree-parent")
    with page.expect_navigation():
        children.first.locator("a").click()
    page.wait_for_selector("#bq-children")
    parts = page.locator("#bq-children tbody tr a").all_inner_texts()
    assert parts == ["part 0", "part 1", "part 2"]
    assert page.locator(".field-parent_link a").first.inner_text() == "Nightly import"
    screenshot(page, "07-tree-child")
    with page.expect_navigation():
        page.locator(".field-parent_link a").first.click()
    page.wait_for_selector('[data-bq-field="status"]')
    page.wait_for_function(
        "() => document.querySelector('[data-bq-field=\"status\"]')?.textContent === 'Completed'",
        polling=200,
        timeout=90_000,
    )
    assert Batch.objects.get(pk=root).status == "completed"
    page.goto(f"{live_server.url}{CHANGELIST}")
    listed = page.locator("#result_list tbody tr").all_inner_texts()
    assert any("Nightly import" in row for row in listed)
    assert not any("fan-out" in row or "part 0" in row for row in listed)  # top level only
