"""Fixtures for the REST API tests: users with different rights, clients, batches in a state."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from django_batchqueue import batch
from django_batchqueue.testing import drain
from tests.testapp.jobs import Boom, Square

API = "/api/batchqueue/"


def make_user(
    username: str, *, staff: bool = False, control: bool = False, password: str | None = None
):
    """A user (no usable password unless given: hashing one costs ~0.5 s)."""
    user = get_user_model().objects.create_user(username, password=password, is_staff=staff)
    if control:
        user.user_permissions.add(
            Permission.objects.get(
                content_type__app_label="django_batchqueue", codename="change_batch"
            )
        )
    return user


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def staff():
    """Staff: sees every batch, may not cancel or retry."""
    return make_user("staff", staff=True)


@pytest.fixture
def operator():
    """Staff with django_batchqueue.change_batch: may cancel and retry."""
    return make_user("operator", staff=True, control=True)


@pytest.fixture
def staff_client(staff) -> APIClient:
    return client_for(staff)


@pytest.fixture
def operator_client(operator) -> APIClient:
    return client_for(operator)


def dispatch_squares(n: int = 3, **builder) -> str:
    """A parallel batch of ``n`` Square jobs, dispatched through the real builder."""
    b = batch([{"class": Square, "args": {"n": i}} for i in range(n)])
    for method, value in builder.items():
        b = getattr(b, method)(value)
    return b.dispatch()


@pytest.fixture
def failed_batch_id() -> str:
    """A strict parallel batch that really ran and failed (needs a transactional test)."""
    batch_id = batch([{"class": Square, "args": {"n": 2}}, Boom]).name("doomed").dispatch()
    drain()
    return batch_id
