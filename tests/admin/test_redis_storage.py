"""The batch admin on Redis storage: the list and the batch page are read through storage
(the ``Batch`` table stays empty), with the same columns, fields, tables, filters, actions,
control buttons and live progress as on SQL storage."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from django_batchqueue.models import Batch, BatchJob
from django_batchqueue.storage import get_storage
from django_batchqueue.testing import drain

pytestmark = pytest.mark.django_db(transaction=True)

LIST = "admin:django_batchqueue_batch_changelist"


@pytest.fixture(autouse=True)
def redis_storage(settings):
    settings.BATCHQUEUE = {**settings.BATCHQUEUE, "STORAGE": "redis"}
    get_storage().reset()


def _page(batch_id) -> str:
    return reverse("admin:django_batchqueue_batch_change", args=[batch_id])


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def _square(n):
    return {"class": "tests.testapp.jobs.Square", "args": {"n": n}}


def test_the_list_shows_batches_from_redis_with_filters_search_and_pages(
    admin_client, manager, settings
):
    done = manager.batch([_square(n) for n in range(3)]).name("squares done").dispatch()
    drain()
    waiting = manager.batch([_square(2)]).name("squares waiting").dispatch()
    failing = (
        manager.batch([{"class": "tests.testapp.jobs.Boom", "max_retries": 0}])
        .name("boom")
        .dispatch()
    )
    drain()
    response = admin_client.get(reverse(LIST))
    html = response.content.decode()
    assert response.status_code == 200
    for batch_id in (done, failing):
        assert _page(batch_id) in html
    assert "squares done" in html and "3 / 0 / 3" in _text(html)
    assert 'data-bq-batch="' in html and "bq-config" in html  # live progress wired
    only_failed = admin_client.get(reverse(LIST), {"status": "failed"}).content.decode()
    assert _page(failing) in only_failed and _page(done) not in only_failed
    found = admin_client.get(reverse(LIST), {"q": "waiting"}).content.decode()
    assert _page(waiting) in found and _page(done) not in found
    # pages of list_per_page
    from django_batchqueue.admin.batch import BatchAdmin

    settings_per_page = BatchAdmin.list_per_page
    try:
        BatchAdmin.list_per_page = 2
        first = admin_client.get(reverse(LIST)).content.decode()
        second = admin_client.get(reverse(LIST), {"p": 2}).content.decode()
    finally:
        BatchAdmin.list_per_page = settings_per_page
    assert "Page 1 of 2" in first and "Page 2 of 2" in second
    assert sum(_page(b) in first for b in (done, waiting, failing)) == 2
    assert sum(_page(b) in second for b in (done, waiting, failing)) == 1
    assert (Batch.objects.count(), BatchJob.objects.count()) == (0, 0)


def test_the_batch_page_shows_fields_jobs_and_buttons(admin_client, manager):
    batch_id = manager.batch([_square(n) for n in range(4)]).name("four squares").dispatch()
    response = admin_client.get(_page(batch_id))
    html = response.content.decode()
    assert response.status_code == 200
    assert "four squares" in html and 'id="bq-jobs"' in html
    assert html.count("tests.testapp.jobs.Square") >= 4
    assert "/control/cancel/" in html  # a running batch can be cancelled
    assert "batchjob/" not in html.split('id="bq-jobs"')[1]  # no links to empty job pages
    drain()
    html = admin_client.get(_page(batch_id)).content.decode()
    assert "4 / 0 / 4" in _text(html) and "/control/cancel/" not in html
    progress = admin_client.get(
        reverse("admin:django_batchqueue_batch_progress"), {"ids": batch_id}
    ).json()
    assert progress["batches"][batch_id]["completed_jobs"] == 4


def test_a_missing_or_expired_batch_is_a_404(admin_client):
    assert admin_client.get(_page("7d9b6f0e-6a43-4c55-9d33-5b1c8a9e0f11")).status_code == 404
    assert admin_client.get(_page("not-a-uuid")).status_code == 404


def test_list_actions_and_page_buttons_control_batches_in_redis(admin_client, manager):
    first = manager.batch([_square(1)]).name("first").dispatch()
    second = manager.batch([_square(2)]).name("second").dispatch()
    response = admin_client.post(
        reverse(LIST),
        {"action": "cancel_selected", "_selected_action": [first, second]},
        follow=True,
    )
    assert "Cancelled 2 batches" in response.content.decode()
    assert {manager.get_batch(b).status for b in (first, second)} == {"cancelled"}
    failing = manager.batch([{"class": "tests.testapp.jobs.Boom", "max_retries": 0}]).dispatch()
    drain()
    response = admin_client.post(
        reverse("admin:django_batchqueue_batch_control", args=[failing, "retry_failed"]),
        follow=True,
    )
    assert "re-queued 1 failed or cancelled jobs" in response.content.decode()
    assert manager.get_batch(failing).failed_jobs == 0
    nothing = admin_client.post(reverse(LIST), {"action": "cancel_selected"}, follow=True)
    assert "Items must be selected" in nothing.content.decode()
    assert (Batch.objects.count(), BatchJob.objects.count()) == (0, 0)


def test_viewers_see_no_actions_and_cannot_post_them(viewer_client, manager):
    batch_id = manager.batch([_square(1)]).dispatch()
    html = viewer_client.get(reverse(LIST)).content.decode()
    assert "cancel_selected" not in html and _page(batch_id) in html
    denied = viewer_client.post(
        reverse(LIST), {"action": "cancel_selected", "_selected_action": [batch_id]}
    )
    assert denied.status_code == 403
    assert manager.get_batch(batch_id).status != "cancelled"


def test_the_redis_storage_pages_speak_german(admin_client, manager, settings):
    """The list drawn for Redis storage uses the shipped German catalogue like the model
    admin's (locale/de): its own strings (search, action bar, pages) included."""
    from django.utils import translation

    middleware = list(settings.MIDDLEWARE)
    at = middleware.index("django.contrib.sessions.middleware.SessionMiddleware") + 1
    settings.MIDDLEWARE = [*middleware[:at], "django.middleware.locale.LocaleMiddleware"]
    settings.MIDDLEWARE += middleware[at:]
    manager.batch([_square(1)]).name("Kasse").dispatch()
    try:
        html = admin_client.get(reverse(LIST), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    finally:
        translation.deactivate()
    assert "Kasse" in html
    for german in ("Suchen", "Aktion:", "Ausgewählte Aktion ausführen", "1 Batch"):
        assert german in html, german
