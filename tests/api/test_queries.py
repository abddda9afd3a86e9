"""The API's cost does not grow with the number of batches or jobs."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_batchqueue.models import Batch, BatchJob

from .conftest import API

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.sql_only("counts SQL queries of rows made through the ORM"),
]


def make_batch(jobs: int, completed: int = 0) -> Batch:
    """A batch with ``jobs`` job rows, bulk-inserted (nothing is enqueued)."""
    batch = Batch.objects.create(
        type="parallel",
        queue="batchjob",
        status="running",
        total_jobs=jobs,
        completed_jobs=completed,
    )
    BatchJob.objects.bulk_create(
        [
            BatchJob(
                batch=batch,
                position=i,
                job_path="tests.testapp.jobs.Square",
                args={"n": i},
                status="completed" if i < completed else "queued",
                result=i * i if i < completed else None,
            )
            for i in range(jobs)
        ],
        batch_size=2000,
    )
    return batch


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


def test_list_cost_does_not_grow_with_batches_or_jobs(staff_client):
    make_batch(1, completed=1)
    one = count_queries(staff_client, f"{API}batches/")
    for _ in range(30):
        make_batch(20, completed=5)
    many = count_queries(staff_client, f"{API}batches/")
    print(f"list queries: 1 batch {one}, 31 batches {many}")
    assert many == one


def test_detail_of_a_10000_job_batch_costs_the_same_as_one_job(staff_client):
    small = make_batch(1, completed=1)
    big = make_batch(10_000, completed=4_000)
    costs = {}
    for name, batch in (("1 job", small), ("10,000 jobs", big)):
        costs[name] = {
            suffix: count_queries(staff_client, f"{API}batches/{batch.pk}/{suffix}")
            for suffix in ("", "progress/", "jobs/", "results/")
        }
    print(f"detail queries: {costs}")
    assert costs["1 job"] == costs["10,000 jobs"]
    detail = staff_client.get(f"{API}batches/{big.pk}/").json()
    assert detail["progress"]["completed_jobs"] == 4000
    assert detail["progress"]["progress_percentage"] == 40


def test_progress_is_one_query_beyond_authentication(staff):
    """The polling endpoint reads the batch row once; nothing else (no job rows)."""
    from rest_framework.test import APIClient

    batch = make_batch(10_000, completed=2_500)
    client = APIClient()
    client.force_authenticate(staff)  # no session or user lookups
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"{API}batches/{batch.pk}/progress/")
    assert response.json()["progress_percentage"] == 25
    assert len(ctx.captured_queries) == 1, [q["sql"] for q in ctx.captured_queries]
    assert "batchqueue_batchjob" not in ctx.captured_queries[0]["sql"]
