"""The live-progress JSON view, and who can reach the admin pages at all."""

from __future__ import annotations

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from .conftest import make_batch

pytestmark = pytest.mark.django_db
PROGRESS = reverse("admin:django_batchqueue_batch_progress")


@pytest.mark.sql_only("makes rows through the ORM and counts SQL queries")
def test_progress_returns_requested_batches_in_one_query(viewer_client):
    running = make_batch(jobs=10, completed=3, failed=1)
    compensating = make_batch(status="failed", failed=1, compensation_status="running")
    done = make_batch(status="completed", completed=3)
    ids = ",".join(str(b.pk) for b in (running, compensating, done))
    with CaptureQueriesContext(connection) as ctx:
        response = viewer_client.get(PROGRESS, {"ids": f"{ids},not-a-uuid,"})
    data = response.json()["batches"]
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    assert set(data) == {str(running.pk), str(compensating.pk), str(done.pk)}
    assert data[str(running.pk)] == {
        # the fields of get_progress ...
        "id": str(running.pk),
        "type": "parallel",
        "has_compensation": False,
        "created_at": DjangoJSONEncoder().default(running.created_at),
        "finished_at": None,
        "status": "running",
        "status_display": "Running",
        "total_jobs": 10,
        "completed_jobs": 3,
        "failed_jobs": 1,
        "cancelled_jobs": 0,
        "pending_jobs": 6,
        "progress_percentage": 40,
        "compensation_status": None,
        "leaf": {"total_jobs": 10, "completed_jobs": 3, "failed_jobs": 1, "cancelled_jobs": 0},
        # ... what the live script needs to redraw the badge ...
        "compensation_display": None,
        "live": True,
        # ... and the unfinished jobs split into queued-or-running and waiting for their turn
        "active_jobs": 6,
        "waiting_jobs": 0,
    }
    # A failed batch still compensating stays live; a completed one does not.
    assert data[str(compensating.pk)]["live"] is True
    assert data[str(compensating.pk)]["compensation_display"] == "Running"
    assert data[str(done.pk)]["live"] is False
    assert data[str(done.pk)]["progress_percentage"] == 100
    batch_queries = [q for q in ctx.captured_queries if "django_batchqueue_batch" in q["sql"]]
    assert len(batch_queries) == 1


def test_progress_without_ids_is_empty(viewer_client):
    assert viewer_client.get(PROGRESS).json() == {"batches": {}}


@pytest.mark.parametrize(
    "name",
    [
        "progress",
        "changelist",
        "change",
        "control",
        "job_changelist",
    ],
)
def test_non_staff_and_anonymous_are_sent_to_login(client, make_user, name):
    batch = make_batch()
    urls = {
        "progress": f"{PROGRESS}?ids={batch.pk}",
        "changelist": reverse("admin:django_batchqueue_batch_changelist"),
        "change": reverse("admin:django_batchqueue_batch_change", args=[batch.pk]),
        "control": reverse("admin:django_batchqueue_batch_control", args=[batch.pk, "cancel"]),
        "job_changelist": reverse("admin:django_batchqueue_batchjob_changelist"),
    }
    url = urls[name]
    method = client.post if name == "control" else client.get
    for user in (None, make_user("customer", "view_batch", "change_batch", staff=False)):
        if user is not None:
            client.force_login(user)
        response = method(url)
        assert response.status_code == 302, (name, user)
        assert response["Location"].startswith(reverse("admin:login"))
    batch.refresh_from_db()
    assert batch.status == "running"


def test_staff_without_batch_permissions_gets_403(client, make_user):
    batch = make_batch()
    client.force_login(make_user("staff-only"))
    assert client.get(f"{PROGRESS}?ids={batch.pk}").status_code == 403
    assert client.get(reverse("admin:django_batchqueue_batch_changelist")).status_code == 403
    url = reverse("admin:django_batchqueue_batch_change", args=[batch.pk])
    assert client.get(url).status_code == 403
    control = reverse("admin:django_batchqueue_batch_control", args=[batch.pk, "cancel"])
    assert client.post(control).status_code == 403
