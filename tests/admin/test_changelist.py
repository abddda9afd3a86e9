"""The batch list: columns, filters, search, and a query count that does not grow with rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_batchqueue.models import Batch

from .conftest import make_batch

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.sql_only(
        "the model admin's pages, over the Batch table (Redis storage: test_redis_storage.py)"
    ),
]
URL = reverse("admin:django_batchqueue_batch_changelist")


def test_list_shows_progress_counts_badges_and_compensation(admin_client):
    running = make_batch(jobs=10, completed=4, failed=1, name="Nightly totals")
    saga = make_batch(
        jobs=3,
        type="sequential",
        status="failed",
        completed=1,
        failed=1,
        compensation_status="completed",
        queue="email-chain",
    )
    page = admin_client.get(URL).content.decode()
    assert "Nightly totals" in page and str(saga.pk) in page
    # Progress bar with live markers, 50% = (4 + 1) / 10, and the counters.
    assert f'data-bq-batch="{running.pk}" data-bq-field="progress" data-bq-live="1"' in page
    assert 'aria-valuenow="50"' in page
    assert '<span class="bq-n-completed">4</span> / <span class="bq-n-failed">1</span>' in page
    assert 'class="bq-badge bq-running"' in page
    # The finished saga: full bar, not live, compensation badge.
    assert f'data-bq-batch="{saga.pk}" data-bq-field="progress" data-bq-live="0"' in page
    assert (
        f'<span class="bq-badge bq-completed" data-bq-batch="{saga.pk}" '
        'data-bq-field="compensation">Completed</span>' in page
    )
    assert "email-chain" in page
    assert "django_batchqueue/admin.js" in page and 'id="bq-config"' in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status__exact=failed", {"failed"}),
        ("type=chain", {"failed"}),  # as Python names it: chain(...)
        ("type=sequential", {"failed"}),
        ("type=parallel", {"running", "completed"}),
        ("type__exact=sequential", {"failed"}),  # a field lookup, as before
        ("compensation=completed", {"failed"}),
        ("compensation=none", {"running", "completed"}),
        ("queue=email-chain", {"failed"}),
    ],
)
def test_filters(admin_client, query, expected):
    make_batch(name="running")
    make_batch(name="completed", status="completed", completed=3)
    make_batch(
        name="failed",
        type="sequential",
        status="failed",
        failed=1,
        compensation_status="completed",
        queue="email-chain",
    )
    response = admin_client.get(f"{URL}?{query}")
    assert response.status_code == 200
    shown = {b.name for b in response.context["cl"].result_list}
    assert shown == expected


def test_created_date_filter_and_date_hierarchy(admin_client):
    batch = make_batch(name="today")
    day = batch.created_at
    response = admin_client.get(
        f"{URL}?created_at__year={day.year}&created_at__month={day.month}&created_at__day={day.day}"
    )
    assert [b.name for b in response.context["cl"].result_list] == ["today"]
    response = admin_client.get(f"{URL}?created_at__year={day.year - 1}")
    assert list(response.context["cl"].result_list) == []


def test_search_by_name_full_id_and_id_prefix(admin_client):
    wanted = make_batch(name="Invoice run")
    make_batch(name="Other")

    def found(term):
        response = admin_client.get(URL, {"q": term})
        return [b.pk for b in response.context["cl"].result_list]

    assert found("invoice") == [wanted.pk]
    assert found(str(wanted.pk)) == [wanted.pk]
    assert found(str(wanted.pk)[:8]) == [wanted.pk]
    assert found("no-such-thing") == []


def _changelist_queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(URL)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_query_count_does_not_grow_with_rows(admin_client):
    make_batch(jobs=2, name="first", compensation_status="running", status="failed")
    one = _changelist_queries(admin_client)
    for i in range(40):
        make_batch(jobs=2, name=f"b{i}", queue=f"q{i % 3}", status=("running", "failed")[i % 2])
    many = _changelist_queries(admin_client)
    assert Batch.objects.count() == 41
    print(f"changelist queries: 1 batch -> {one}, 41 batches -> {many}")
    assert many == one
