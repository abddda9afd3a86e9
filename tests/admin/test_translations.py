"""The admin speaks the user's language: labels, statuses, model names, messages and the batch
page come from the shipped German translation (locale/de) when the browser asks for German."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import translation

from django_batchqueue.models import Batch, BatchJob
from django_batchqueue.states import BatchStatus, BatchType, JobStatus

from .conftest import make_batch

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.sql_only(
        "the model admin's pages, over the Batch table (Redis storage: test_redis_storage.py)"
    ),
]
CHANGELIST = reverse("admin:django_batchqueue_batch_changelist")
GERMAN = {"HTTP_ACCEPT_LANGUAGE": "de"}


@pytest.fixture(autouse=True)
def locale_middleware(settings):
    """Pick the language from the request, as a multilingual project does; afterwards the
    thread goes back to the default language (LocaleMiddleware leaves its choice active)."""
    middleware = list(settings.MIDDLEWARE)
    at = middleware.index("django.contrib.sessions.middleware.SessionMiddleware") + 1
    locale = "django.middleware.locale.LocaleMiddleware"
    settings.MIDDLEWARE = [*middleware[:at], locale, *middleware[at:]]
    yield
    translation.deactivate()


def test_labels_statuses_and_model_names_translate():
    with translation.override("de"):
        assert str(BatchStatus.FAILED.label) == "Fehlgeschlagen"
        assert str(JobStatus.QUEUED.label) == "Eingereiht"
        assert str(BatchType.SEQUENTIAL.label) == "Kette"
        assert str(BatchJob._meta.verbose_name_plural) == "Batch-Jobs"
        assert str(Batch._meta.get_field("queue").verbose_name) == "Warteschlange"
    with translation.override("en"):
        assert str(BatchStatus.FAILED.label) == "Failed"


def test_the_changelist_and_the_batch_page_in_german(admin_client):
    failed = make_batch(name="Kasse", type="sequential", status="failed", failed=1)
    page = admin_client.get(CHANGELIST, **GERMAN).content.decode()
    assert "Batch-Warteschlange" in page  # the app
    assert "Fortschritt" in page and "Fertig / fehlgeschlagen / gesamt" in page  # columns
    assert ">Fehlgeschlagen</span>" in page  # a status badge
    assert "Ausgewählte Batches abbrechen" in page  # an action
    assert "Batches der obersten Ebene" in page and "Kette" in page  # filters
    batch_page = admin_client.get(
        reverse("admin:django_batchqueue_batch_change", args=[failed.pk]), **GERMAN
    ).content.decode()
    assert "Ausführungsreihenfolge" in batch_page  # a chain's run order
    assert "Dieser Batch ist beendet." in batch_page
    assert "Warteschlange" in batch_page  # a field's verbose name


def test_action_messages_in_german(admin_client):
    done = make_batch(name="Fertig", status="completed", completed=3)
    response = admin_client.post(
        CHANGELIST,
        {"action": "cancel", "_selected_action": [str(done.pk)]},
        follow=True,
        **GERMAN,
    )
    messages = [str(m) for m in get_messages(response.wsgi_request)] or [
        str(m) for m in response.context["messages"]
    ]
    assert messages == [
        f"Batch “Fertig” ({done.pk}) ist bereits abgeschlossen; nichts abzubrechen."
    ]
