"""The API's filters are django-filter FilterSets: documented with their types in the schema,
shown as a form in the browsable API, and read through storage (never an ORM queryset)."""

from __future__ import annotations

import pytest

from django_batchqueue import chain
from django_batchqueue.api.filters import BatchFilterSet
from django_batchqueue.models import Batch
from tests.testapp.jobs import Step

from .conftest import API, dispatch_squares

SCHEMA_URL = f"{API}schema/?format=json"


def parameters(schema: dict, path: str) -> dict[str, dict]:
    return {p["name"]: p for p in schema["paths"][f"{API}{path}"]["get"]["parameters"]}


@pytest.mark.django_db
def test_schema_documents_each_filter_with_its_type(staff_client):
    schema = staff_client.get(SCHEMA_URL).json()
    listing = parameters(schema, "batches/")
    assert listing["has_compensation"]["schema"] == {"type": "boolean"}
    assert listing["created_after"]["schema"] == {"type": "string", "format": "date-time"}
    assert listing["name"]["schema"]["maxLength"] == 255
    assert set(listing["status"]["schema"]["enum"]) == {
        "pending",
        "running",
        "completed",
        "failed",
        "cancelled",
    }
    assert set(listing["type"]["schema"]["enum"]) == {"parallel", "sequential", "chain"}
    assert all(listing[name]["allowEmptyValue"] for name in ("status", "type", "name"))
    jobs = parameters(schema, "batches/{id}/jobs/")
    assert {"status", "kind", "page"} <= set(jobs)
    assert "queued" in jobs["status"]["schema"]["enum"]
    assert "has_compensation" not in jobs


@pytest.mark.django_db
def test_browsable_api_shows_the_filter_form(staff_client):
    dispatch_squares(1)
    page = staff_client.get(f"{API}batches/", HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    html = page.content.decode()
    assert '<form class="form" action="" method="get">' in html
    for name in ("status", "type", "has_compensation", "name", "created_after"):
        assert f'name="{name}"' in html
    # the form of a batch's jobs has the job filters
    batch_id = dispatch_squares(1)
    jobs = staff_client.get(f"{API}batches/{batch_id}/jobs/", HTTP_ACCEPT="text/html")
    assert 'name="kind"' in jobs.content.decode()


@pytest.mark.django_db
def test_the_form_submitted_blank_lists_everything(staff_client):
    ids = {dispatch_squares(1), chain([Step]).dispatch()}
    blank = "status=&type=&has_compensation=&name=&created_after=&created_before="
    response = staff_client.get(f"{API}batches/?{blank}")
    assert response.status_code == 200
    assert {b["id"] for b in response.json()["results"]} == ids


@pytest.mark.django_db
def test_a_filter_set_validates_for_storage_and_filters_no_queryset():
    filterset = BatchFilterSet({"type": "chain", "name": "x"}, queryset=Batch.objects.none())
    query = filterset.batch_query(created_by_id=7)
    assert (query.type, query.name_contains, query.created_by_id) == ("sequential", "x", 7)
    with pytest.raises(NotImplementedError):
        filterset.qs  # noqa: B018


@pytest.mark.django_db
@pytest.mark.parametrize(
    "moment, status",
    [
        ("3834-09-23T11:32:38+17:12", 200),  # beyond PostgreSQL's ±15:59: sent in UTC
        ("2025-01-01T00:00:00-15:30", 200),
        ("0001-01-01T00:00:00+10:00", 400),  # no UTC equivalent
    ],
)
def test_times_with_any_offset_are_sent_in_utc(staff_client, moment, status):
    response = staff_client.get(f"{API}batches/", {"created_after": moment})
    assert response.status_code == status, response.content
    if status == 400:
        assert list(response.json()) == ["created_after"]
