"""Cancel, cancel-and-compensate and retry-failed from the admin, on batches run by real RQ
(``testing.drain``), with the messages an operator sees and the permission they need."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from django_batchqueue.models import Batch
from django_batchqueue.testing import drain
from tests.testapp.jobs import Boom, Gated, Maybe, Square, Undo
from tests.testapp.models import Event, record

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.sql_only(
        "the model admin's pages, over the Batch table (Redis storage: test_redis_storage.py)"
    ),
]
CHANGELIST = reverse("admin:django_batchqueue_batch_changelist")


def act(client, action, *batch_ids):
    response = client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [str(b) for b in batch_ids]},
        follow=True,
    )
    assert response.status_code == 200
    return [str(m) for m in get_messages(response.wsgi_request)] or [
        str(m) for m in response.context["messages"]
    ]


def button(client, batch_id, action):
    url = reverse("admin:django_batchqueue_batch_control", args=[batch_id, action])
    response = client.post(url, follow=True)
    return response, [str(m) for m in response.context["messages"]]


def test_cancel_action_cancels_open_batches_and_says_which_were_finished(admin_client, manager):
    done_id = manager.batch([{"class": Square, "args": {"n": 1}}]).dispatch()
    assert drain() == 1
    open_id = (
        manager.batch([{"class": Square, "args": {"n": n}} for n in range(3)])
        .name("Open one")
        .dispatch()
    )
    messages = act(admin_client, "cancel", open_id, done_id)
    assert sorted(messages) == sorted(
        [
            f"Cancelled batch “Open one” ({open_id}).",
            f"Batch {done_id} is already completed; nothing to cancel.",
        ]
    )
    assert drain() == 3  # the queued RQ jobs are skipped
    batch = Batch.objects.get(pk=open_id)
    assert (batch.status, batch.cancelled_jobs, batch.completed_jobs) == ("cancelled", 3, 0)
    assert not Event.objects.filter(label="square", payload__n__in=[0, 2]).exists()


def test_cancel_and_compensate_button_undoes_completed_steps(admin_client, manager):
    batch_id = manager.chain(
        [{"class": Maybe, "args": {"name": n}, "compensation": Undo} for n in "abc"]
    ).dispatch()
    drain(max_jobs=2)
    response, messages = button(admin_client, batch_id, "cancel_and_compensate")
    assert response.redirect_chain[-1][0] == reverse(
        "admin:django_batchqueue_batch_change", args=[batch_id]
    )
    assert messages == [f"Cancelled batch {batch_id}; its completed jobs are being compensated."]
    drain()
    batch = Batch.objects.get(pk=batch_id)
    assert (batch.status, batch.compensation_status) == ("cancelled", "completed")
    assert [e.payload["args"]["name"] for e in Event.objects.filter(label="undo")] == ["b", "a"]
    # The page now shows the compensations, marked as such.
    html = admin_client.get(
        reverse("admin:django_batchqueue_batch_change", args=[batch_id])
    ).content.decode()
    assert 'id="bq-compensations"' in html and html.count("bq-kind-tag-compensation") >= 2


def test_retry_failed_requeues_and_the_batch_completes(admin_client, manager):
    batch_id = manager.chain([{"class": Gated, "args": {"name": n}} for n in "ab"]).dispatch()
    drain()
    assert Batch.objects.get(pk=batch_id).status == "failed"
    record("gate-open")
    messages = act(admin_client, "retry_failed", batch_id)
    assert messages == [f"Batch {batch_id}: re-queued 2 failed or cancelled jobs."]
    drain()
    batch = Batch.objects.get(pk=batch_id)
    assert (batch.status, batch.completed_jobs, batch.context["steps"]) == (
        "completed",
        2,
        ["a", "b"],
    )
    # Retrying again does not apply: the batch is no longer failed.
    _, messages = button(admin_client, batch_id, "retry_failed")
    assert messages == [
        f"Batch {batch_id} is completed; only a failed batch, or a completed allow-failures "
        "batch with failed jobs, can be retried."
    ]


def test_retry_refused_once_compensation_started(admin_client, manager):
    batch_id = manager.chain(
        [
            {"class": Square, "args": {"n": 2}, "compensation": Undo},
            {"class": Boom, "args": {"message": "payment declined"}},
        ]
    ).dispatch()
    drain()
    batch = Batch.objects.get(pk=batch_id)
    assert (batch.status, batch.compensation_status) == ("failed", "completed")
    messages = act(admin_client, "retry_failed", batch_id)
    assert messages == [
        f"Batch {batch_id} cannot be retried: its compensation has started "
        "(compensation completed)."
    ]
    assert Batch.objects.get(pk=batch_id).status == "failed"


def test_many_batches_get_one_message_per_outcome(admin_client, manager):
    ids = [manager.batch([{"class": Square, "args": {"n": 1}}]).dispatch() for _ in range(7)]
    drain()
    messages = act(admin_client, "cancel", *ids)
    assert len(messages) == 1
    assert messages[0].startswith("7 batches had already finished; nothing to cancel: ")
    assert messages[0].endswith(" and 2 more.")


def test_control_needs_change_permission(client, make_user, manager):
    batch_id = manager.batch([{"class": Square, "args": {"n": n}} for n in range(2)]).dispatch()
    client.force_login(make_user("viewer", "view_batch", "view_batchjob"))
    page = client.get(reverse("admin:django_batchqueue_batch_change", args=[batch_id]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "bq-button" not in html  # no buttons
    changelist = client.get(CHANGELIST)
    assert "cancel_selected" not in changelist.content.decode()  # no actions
    url = reverse("admin:django_batchqueue_batch_control", args=[batch_id, "cancel"])
    assert client.post(url).status_code == 403
    response = client.post(
        CHANGELIST, {"action": "cancel_selected", "_selected_action": [str(batch_id)]}
    )
    assert response.status_code in (200, 302)
    assert Batch.objects.get(pk=batch_id).status == "pending"

    controller = make_user("controller", "view_batch", "change_batch")
    client.force_login(controller)
    html = client.get(
        reverse("admin:django_batchqueue_batch_change", args=[batch_id])
    ).content.decode()
    assert 'name="cancel"' in html
    assert client.post(url).status_code == 302
    assert Batch.objects.get(pk=batch_id).status == "cancelled"


def test_control_view_refuses_get_unknown_actions_and_missing_csrf(
    admin_client, admin_user, manager
):
    batch_id = manager.batch([Square]).dispatch()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin_user)
    url = reverse("admin:django_batchqueue_batch_control", args=[batch_id, "cancel"])
    assert strict.post(url).status_code == 403
    url = reverse("admin:django_batchqueue_batch_control", args=[batch_id, "cancel"])
    assert admin_client.get(url).status_code == 405
    bogus = reverse("admin:django_batchqueue_batch_control", args=[batch_id, "delete"])
    assert admin_client.post(bogus).status_code == 404
    assert Batch.objects.get(pk=batch_id).status == "pending"


def test_history_records_who_cancelled_and_who_retried(admin_client, admin_user, manager):
    """Every change an action makes is in the admin log (``log_change``), shown on the batch's
    History page; an action that changes nothing is not logged."""
    from django.contrib.admin.models import CHANGE, LogEntry

    failed = manager.chain([{"class": Gated, "args": {"name": n}} for n in "ab"]).dispatch()
    drain()
    cancelled = manager.batch([{"class": Square, "args": {"n": 1}}]).name("Nightly").dispatch()
    act(admin_client, "cancel", cancelled)
    record("gate-open")
    button(admin_client, failed, "retry_failed")
    act(admin_client, "cancel", cancelled)  # already cancelled: nothing changes, nothing logged

    entries = LogEntry.objects.order_by("pk")
    assert [
        (e.user, e.action_flag, e.object_id, e.object_repr, e.get_change_message()) for e in entries
    ] == [
        (admin_user, CHANGE, str(cancelled), "Nightly", "Cancelled."),
        (
            admin_user,
            CHANGE,
            str(failed),
            str(failed),
            "Retried: re-queued 2 failed or cancelled jobs.",
        ),
    ]
    history = admin_client.get(
        reverse("admin:django_batchqueue_batch_history", args=[cancelled])
    ).content.decode()
    assert "Cancelled." in history and admin_user.username in history
