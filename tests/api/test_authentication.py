"""What DRF's default authentication (session, then HTTP Basic) really answers, with real
requests (no ``force_authenticate``), as docs/api.md's error table says; and that the browsable
API and the schema show user-facing descriptions, never the views' docstrings."""

from __future__ import annotations

import base64

import pytest
from django.test import Client
from rest_framework.authentication import BasicAuthentication, SessionAuthentication

from django_batchqueue.api.views import BatchViewSet

from .conftest import API, dispatch_squares, make_user

pytestmark = pytest.mark.django_db

NOT_PROVIDED = "Authentication credentials were not provided."
BAD_CREDENTIALS = "Invalid username/password."
NOT_ALLOWED = "You do not have permission to perform this action."


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {token}"}


def answer(response) -> tuple[int, str, str | None]:
    return response.status_code, response.json()["detail"], response.get("WWW-Authenticate")


def test_default_authentication_answers_403_to_everyone_refused():
    """Session authentication comes first and sends no challenge, so DRF turns "not
    authenticated" into 403 too (a 401 needs a WWW-Authenticate challenge)."""
    make_user("bob", password="pw")
    make_user("staff", staff=True, password="pw")
    batch_id = dispatch_squares(1)
    anonymous = Client()
    assert answer(anonymous.get(f"{API}batches/")) == (403, NOT_PROVIDED, None)
    assert answer(anonymous.get(f"{API}batches/{batch_id}/progress/")) == (403, NOT_PROVIDED, None)
    wrong = anonymous.get(f"{API}batches/", **basic("staff", "wrong"))
    assert answer(wrong) == (403, BAD_CREDENTIALS, None)
    assert answer(anonymous.get(f"{API}batches/", **basic("bob", "pw"))) == (403, NOT_ALLOWED, None)
    session = Client()
    session.login(username="bob", password="pw")
    assert answer(session.get(f"{API}batches/")) == (403, NOT_ALLOWED, None)
    # staff without change_batch: reading is fine, cancelling is refused with the reason
    assert Client().get(f"{API}batches/", **basic("staff", "pw")).status_code == 200
    refused = Client().post(f"{API}batches/{batch_id}/cancel/", **basic("staff", "pw"))
    assert refused.status_code == 403
    assert "django_batchqueue.change_batch" in refused.json()["detail"]


def test_a_challenging_first_authentication_class_answers_401(monkeypatch):
    """With HTTP Basic (or token authentication) first, not authenticated is a 401 with the
    challenge; not allowed stays 403."""
    monkeypatch.setattr(
        BatchViewSet, "authentication_classes", [BasicAuthentication, SessionAuthentication]
    )
    make_user("bob", password="pw")
    client = Client()
    challenge = 'Basic realm="api"'
    assert answer(client.get(f"{API}batches/")) == (401, NOT_PROVIDED, challenge)
    assert answer(client.get(f"{API}batches/", **basic("bob", "no"))) == (
        401,
        BAD_CREDENTIALS,
        challenge,
    )
    assert answer(client.get(f"{API}batches/", **basic("bob", "pw"))) == (403, NOT_ALLOWED, None)


def test_browsable_api_and_schema_show_no_docstrings(staff_client):
    batch_id = dispatch_squares(1)
    docstrings = [
        BatchViewSet.__doc__,
        BatchViewSet.list.__doc__,
        BatchViewSet.get_view_description.__doc__,
    ]
    for suffix in ["", f"{batch_id}/", f"{batch_id}/progress/", f"{batch_id}/jobs/"]:
        html = staff_client.get(f"{API}batches/{suffix}", HTTP_ACCEPT="text/html").content
        page = html.decode()
        assert "Batches visible to the requesting user" not in page
        assert ":mod:" not in page
        assert not [d for d in docstrings if d and d.strip().splitlines()[0] in page]
    listing = staff_client.get(f"{API}batches/", HTTP_ACCEPT="text/html").content.decode()
    assert "List batches, newest first" in listing
    schema = staff_client.get(f"{API}schema/?format=json").json()
    descriptions = [
        op.get("description", "") for ops in schema["paths"].values() for op in ops.values()
    ]
    assert not [d for d in descriptions if ":mod:" in d or "requesting user" in d]
