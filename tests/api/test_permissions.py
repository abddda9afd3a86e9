"""Who may use the API and what they see: staff by default, configurable classes, own batches."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from django_batchqueue import batch
from django_batchqueue.middleware import BatchUserMiddleware
from tests import reads
from tests.testapp.jobs import Square

from .conftest import API, client_for, dispatch_squares, make_user

pytestmark = pytest.mark.django_db

DETAIL_URLS = ["", "progress/", "jobs/", "results/"]


def dispatch_as(user) -> str:
    """Dispatch during a request of ``user``, through BatchUserMiddleware (as a view would)."""
    request = RequestFactory().post("/orders/")
    request.user = user
    dispatched = []

    def view(request):
        dispatched.append(batch([{"class": Square, "args": {"n": 1}}]).dispatch())
        return None

    BatchUserMiddleware(view)(request)
    return dispatched[0]


def test_middleware_records_who_dispatched():
    alice = make_user("alice")
    batch_id = dispatch_as(alice)
    assert _created_by(batch_id) == alice
    assert _created_by(dispatch_squares(1)) is None  # outside a request


def test_builder_created_by_overrides_the_request_user():
    from django.contrib.auth.models import AnonymousUser

    from django_batchqueue.context import reset_current_user, set_current_user

    alice, bob = make_user("alice"), make_user("bob")

    def dispatched_by(**who) -> object:
        b = batch([{"class": Square, "args": {"n": 1}}])
        if who:
            b = b.created_by(who["user"])
        return _created_by(b.dispatch())

    token = set_current_user(alice)  # as BatchUserMiddleware does during a request
    try:
        assert dispatched_by() == alice
        assert dispatched_by(user=bob) == bob
        assert dispatched_by(user=None) is None  # explicitly nobody
        assert dispatched_by(user=AnonymousUser()) is None
    finally:
        reset_current_user(token)


@pytest.mark.parametrize("user_kind", ["anonymous", "plain user"])
def test_non_staff_are_refused_by_default(user_kind):
    user = None if user_kind == "anonymous" else make_user("bob")
    batch_id = dispatch_as(user) if user else dispatch_squares(1)
    client = client_for(user)
    assert client.get(f"{API}batches/").status_code == 403
    for suffix in DETAIL_URLS:
        assert client.get(f"{API}batches/{batch_id}/{suffix}").status_code == 403
    assert client.get(f"{API}schema/").status_code == 403


def test_permission_classes_are_configurable(settings):
    bob = make_user("bob")
    batch_id = dispatch_squares(1)
    settings.BATCHQUEUE = {
        **settings.BATCHQUEUE,
        "API_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    }
    response = client_for(bob).get(f"{API}batches/")
    assert response.status_code == 200
    assert [b["id"] for b in response.json()["results"]] == [batch_id]  # sees everyone's
    assert client_for(None).get(f"{API}batches/").status_code == 403


class TestOwnBatchesMode:
    @pytest.fixture(autouse=True)
    def _own_batches(self, settings):
        settings.BATCHQUEUE = {**settings.BATCHQUEUE, "API_USERS_SEE_OWN_BATCHES": True}

    def test_users_see_only_their_own_batches(self, staff_client):
        alice, bob = make_user("alice"), make_user("bob")
        mine, theirs, nobodys = dispatch_as(alice), dispatch_as(bob), dispatch_squares(1)
        client = client_for(alice)

        listed = client.get(f"{API}batches/").json()
        assert [b["id"] for b in listed["results"]] == [mine] and listed["count"] == 1
        assert listed["results"][0]["created_by"] == alice.pk
        for suffix in DETAIL_URLS:
            assert client.get(f"{API}batches/{mine}/{suffix}").status_code == 200
            for other in (theirs, nobodys):
                response = client.get(f"{API}batches/{other}/{suffix}")
                assert response.status_code == 404, (suffix, response.content)
        # Staff still see everything.
        assert staff_client.get(f"{API}batches/").json()["count"] == 3

    def test_anonymous_users_are_still_refused(self):
        assert client_for(None).get(f"{API}batches/").status_code == 403

    def test_owners_need_the_change_permission_to_cancel(self):
        alice = make_user("alice")
        mine = dispatch_as(alice)
        response = client_for(alice).post(f"{API}batches/{mine}/cancel/", {}, format="json")
        assert response.status_code == 403
        assert reads.batch(mine).status == "pending"

    def test_someone_elses_batch_is_404_even_with_the_change_permission(self):
        alice, bob = make_user("alice", control=True), make_user("bob")
        theirs = dispatch_as(bob)
        client = client_for(alice)
        assert client.post(f"{API}batches/{theirs}/cancel/", {}, format="json").status_code == 404
        assert client.post(f"{API}batches/{theirs}/retry/").status_code == 404
        assert reads.batch(theirs).status == "pending"


@pytest.mark.parametrize("verb", ["cancel", "retry"])
def test_control_needs_the_change_permission_even_for_staff(staff_client, verb):
    batch_id = dispatch_squares(1)
    response = staff_client.post(f"{API}batches/{batch_id}/{verb}/", {}, format="json")
    assert response.status_code == 403
    assert "change_batch" in response.json()["detail"]
    assert reads.batch(batch_id).status == "pending"


def _created_by(batch_id):
    """Who dispatched the batch (the user, or None), read through storage."""
    from django.contrib.auth import get_user_model

    user_id = reads.batch(batch_id).created_by_id
    return None if user_id is None else get_user_model().objects.get(pk=user_id)
