"""GET endpoints: list with filters, detail with progress, progress, jobs, results; 404 and 400."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from django_batchqueue import BatchManager, chain
from django_batchqueue.models import Batch
from django_batchqueue.testing import drain
from tests.testapp.jobs import Boom, Square, Step, Undo

from .conftest import API, dispatch_squares


@pytest.mark.django_db
class TestList:
    def test_lists_batches_newest_first_with_counters(self, staff_client):
        first = dispatch_squares(2, name="first")
        second = dispatch_squares(3, name="second")
        response = staff_client.get(f"{API}batches/")
        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 2
        assert [b["id"] for b in body["results"]] == [second, first]
        item = body["results"][0]
        assert item["name"] == "second" and item["status"] == "pending"
        assert (item["total_jobs"], item["pending_jobs"], item["progress_percentage"]) == (3, 3, 0)
        assert "context" not in item

    @pytest.mark.sql_only(
        "backdates a batch through the ORM (tests/api/test_filters.py runs on both)"
    )
    def test_filters(self, staff_client):
        parallel = dispatch_squares(1, name="Nightly totals")
        saga = chain([[Step, Undo]]).name("checkout").dispatch()
        Batch.objects.filter(pk=saga).update(
            status="failed", created_at=timezone.now() - timedelta(days=2)
        )

        def ids(**params):
            response = staff_client.get(f"{API}batches/", params)
            assert response.status_code == 200, response.content
            return {b["id"] for b in response.json()["results"]}

        assert ids(status="failed") == {saga}
        assert ids(status="pending") == {parallel}
        assert ids(type="sequential") == {saga}
        assert ids(type="chain") == {saga}  # what Python (chain()) and the admin call it
        assert ids(type="parallel") == {parallel}
        assert ids(has_compensation="true") == {saga}
        assert ids(has_compensation="false") == {parallel}
        assert ids(name="NIGHTLY") == {parallel}
        assert ids(name="") == {parallel, saga}
        yesterday = (timezone.now() - timedelta(days=1)).isoformat()
        assert ids(created_after=yesterday) == {parallel}
        assert ids(created_before=yesterday) == {saga}
        assert ids(status="failed", type="parallel") == set()
        # a blank value is no filter (what the browsable API's form sends for a blank field)
        blanks = dict.fromkeys(["status", "type", "has_compensation", "created_after"], "")
        assert ids(**blanks) == {parallel, saga}

    @pytest.mark.parametrize(
        "params, field",
        [
            ({"status": "bogus"}, "status"),
            ({"type": "serial"}, "type"),
            ({"created_after": "notadate"}, "created_after"),
            ({"created_before": "2024-13-45"}, "created_before"),
            ({"has_compensation": "maybe"}, "has_compensation"),
            ({"page_size": "0"}, "page_size"),
        ],
    )
    def test_invalid_filters_are_400_with_field_errors(self, staff_client, params, field):
        response = staff_client.get(f"{API}batches/", params)
        assert response.status_code == 400
        assert list(response.json()) == [field]

    def test_pagination(self, staff_client):
        for _ in range(3):
            dispatch_squares(1)
        body = staff_client.get(f"{API}batches/", {"page_size": 2}).json()
        assert (body["count"], len(body["results"])) == (3, 2) and body["next"]
        assert len(staff_client.get(body["next"]).json()["results"]) == 1
        assert staff_client.get(f"{API}batches/", {"page": 9}).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_detail_progress_jobs_and_results_of_a_batch_that_ran(staff_client):
    batch_id = (
        BatchManager()
        .batch([{"class": Square, "args": {"n": n}} for n in range(4)] + [Boom])
        .allow_failures()
        .set_context({"who": "tests"})
        .dispatch()
    )
    drain()
    detail = staff_client.get(f"{API}batches/{batch_id}/").json()
    assert detail["status"] == "completed" and detail["context"] == {"who": "tests"}
    expected = BatchManager().get_progress(batch_id)
    assert set(detail["progress"]) == set(expected)
    assert detail["progress"]["completed_jobs"] == 4 and detail["progress"]["failed_jobs"] == 1
    assert detail["progress"]["progress_percentage"] == 100

    progress = staff_client.get(f"{API}batches/{batch_id}/progress/").json()
    assert progress == detail["progress"]
    assert progress["id"] == batch_id and progress["pending_jobs"] == 0

    jobs = staff_client.get(f"{API}batches/{batch_id}/jobs/").json()
    assert [(j["kind"], j["position"], j["status"]) for j in jobs["results"]][:5] == [
        ("job", 0, "completed"),
        ("job", 1, "completed"),
        ("job", 2, "completed"),
        ("job", 3, "completed"),
        ("job", 4, "failed"),
    ]
    failed = staff_client.get(f"{API}batches/{batch_id}/jobs/", {"status": "failed"}).json()
    assert [(j["position"], j["error"]) for j in failed["results"]] == [(4, "RuntimeError: boom")]
    only_jobs = staff_client.get(f"{API}batches/{batch_id}/jobs/", {"kind": "job"}).json()
    assert only_jobs["count"] == 5
    bad = staff_client.get(f"{API}batches/{batch_id}/jobs/", {"kind": "helper"})
    assert bad.status_code == 400 and list(bad.json()) == ["kind"]

    results = staff_client.get(f"{API}batches/{batch_id}/results/").json()
    assert [(r["position"], r["result"]) for r in results["results"]] == [
        (0, 0),
        (1, 1),
        (2, 4),
        (3, 9),
    ]
    by_manager = BatchManager().get_results(batch_id)
    assert {r["job_id"]: r["result"] for r in results["results"]} == by_manager


@pytest.mark.django_db
@pytest.mark.parametrize("suffix", ["", "progress/", "jobs/", "results/"])
@pytest.mark.parametrize("batch_id", [str(uuid.uuid4()), "not-a-uuid", "1", "%20"])
def test_unknown_or_malformed_ids_are_404(staff_client, suffix, batch_id):
    response = staff_client.get(f"{API}batches/{batch_id}/{suffix}")
    assert response.status_code == 404
    assert "detail" in response.json()


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["a\x00b", "x" * 256])
def test_unusable_names_are_400_not_500(staff_client, name):
    response = staff_client.get(f"{API}batches/", {"name": name})
    assert response.status_code == 400 and list(response.json()) == ["name"]


@pytest.mark.django_db
@pytest.mark.parametrize("suffix", ["", "{id}/", "{id}/progress/", "{id}/jobs/", "{id}/cancel/"])
def test_browsable_api_renders(operator_client, suffix):
    batch_id = dispatch_squares(1)
    url = f"{API}batches/" + suffix.format(id=batch_id)
    response = operator_client.get(url, HTTP_ACCEPT="text/html")
    assert response.status_code == (405 if suffix.endswith("cancel/") else 200)
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.django_db(transaction=True)
def test_detail_and_list_show_jobs_waiting_for_their_turn(staff_client):
    batch_id = (
        BatchManager()
        .batch([{"class": Square, "args": {"n": i}} for i in range(5)])
        .max_concurrency(2)
        .dispatch()
    )
    detail = staff_client.get(f"{API}batches/{batch_id}/").json()
    assert (detail["max_concurrency"], detail["active_jobs"], detail["waiting_jobs"]) == (2, 2, 3)
    assert detail["progress"]["pending_jobs"] == 5
    (listed,) = staff_client.get(f"{API}batches/").json()["results"]
    assert (listed["active_jobs"], listed["waiting_jobs"], listed["max_concurrency"]) == (2, 3, 2)
