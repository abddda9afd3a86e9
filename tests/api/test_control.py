"""POST cancel and retry, on batches that really ran (drained by an in-process worker)."""

from __future__ import annotations

import uuid

import pytest

from django_batchqueue import chain
from django_batchqueue.testing import drain
from tests import reads
from tests.testapp.jobs import Gated, Maybe, Step, Undo
from tests.testapp.models import Event, record

from .conftest import API, dispatch_squares

pytestmark = pytest.mark.django_db(transaction=True)


def test_cancel_a_running_chain(operator_client):
    batch_id = chain([{"class": Step, "args": {"name": n}} for n in "abc"]).dispatch()
    drain(max_jobs=1)
    response = operator_client.post(f"{API}batches/{batch_id}/cancel/", {}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["cancelled"] is True and body["batch"]["status"] == "cancelled"
    assert body["batch"]["progress"]["cancelled_jobs"] == 2
    drain()
    batch = reads.batch(batch_id)
    assert (batch.status, batch.completed_jobs, batch.context["steps"]) == ("cancelled", 1, ["a"])


def test_cancel_with_compensation(operator_client):
    batch_id = chain(
        [{"class": Maybe, "args": {"name": n}, "compensation": Undo} for n in "abc"]
    ).dispatch()
    drain(max_jobs=2)
    response = operator_client.post(
        f"{API}batches/{batch_id}/cancel/", {"compensate": True}, format="json"
    )
    assert response.status_code == 200
    drain()
    batch = reads.batch(batch_id)
    assert (batch.status, batch.compensation_status) == ("cancelled", "completed")
    assert [e.payload["args"]["name"] for e in Event.objects.filter(label="undo")] == ["b", "a"]


def test_cancel_rejects_a_bad_body(operator_client):
    batch_id = dispatch_squares(1)
    response = operator_client.post(
        f"{API}batches/{batch_id}/cancel/", {"compensate": "maybe"}, format="json"
    )
    assert response.status_code == 400 and list(response.json()) == ["compensate"]
    assert reads.batch(batch_id).status == "pending"


def test_cancel_a_finished_batch_is_409(operator_client):
    batch_id = dispatch_squares(2)
    drain()
    response = operator_client.post(f"{API}batches/{batch_id}/cancel/", {}, format="json")
    assert response.status_code == 409
    assert "completed" in response.json()["detail"]
    assert reads.batch(batch_id).status == "completed"


def test_retry_a_failed_chain_then_it_completes(operator_client):
    batch_id = chain(
        [
            {"class": Step, "args": {"name": "a"}},
            {"class": Gated, "args": {"name": "b"}},
            {"class": Step, "args": {"name": "c"}},
        ]
    ).dispatch()
    drain()
    assert reads.batch(batch_id).status == "failed"
    record("gate-open")
    response = operator_client.post(f"{API}batches/{batch_id}/retry/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["requeued_jobs"] == 2 and body["batch"]["status"] == "running"
    drain()
    batch = reads.batch(batch_id)
    assert (batch.status, batch.completed_jobs) == ("completed", 3)


def test_retry_a_batch_that_did_not_fail_is_409(operator_client):
    batch_id = dispatch_squares(1)
    drain()
    response = operator_client.post(f"{API}batches/{batch_id}/retry/")
    assert response.status_code == 409
    assert "only a failed batch, or a completed allow-failures batch" in response.json()["detail"]


def test_retry_after_compensation_started_is_409(operator_client):
    batch_id = chain(
        [
            {"class": Maybe, "args": {"name": "a"}, "compensation": Undo},
            {"class": Maybe, "args": {"name": "b", "fail": True}},
        ]
    ).dispatch()
    drain()
    batch = reads.batch(batch_id)
    assert (batch.status, batch.compensation_status) == ("failed", "completed")
    response = operator_client.post(f"{API}batches/{batch_id}/retry/")
    assert response.status_code == 409
    assert "compensation" in response.json()["detail"]


def test_retry_the_failed_batch_fixture(operator_client, failed_batch_id):
    response = operator_client.post(f"{API}batches/{failed_batch_id}/retry/")
    assert response.status_code == 200
    assert response.json()["requeued_jobs"] == 1  # Boom; Square had completed


@pytest.mark.parametrize("verb", ["cancel", "retry"])
@pytest.mark.parametrize("batch_id", [str(uuid.uuid4()), "nope"])
def test_control_of_unknown_ids_is_404(operator_client, verb, batch_id):
    assert operator_client.post(f"{API}batches/{batch_id}/{verb}/").status_code == 404
