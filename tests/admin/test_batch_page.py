"""The batch page: read-only, escaped JSON, jobs in order, compensations and callbacks apart,
a chain's run order, and a capped jobs table that keeps a huge batch page cheap."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_batchqueue.admin.detail import ROWS_SHOWN
from django_batchqueue.models import Batch, BatchJob

from .conftest import make_batch

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.sql_only(
        "the model admin's pages, over the Batch table (Redis storage: test_redis_storage.py)"
    ),
]


def page_url(batch: Batch) -> str:
    return reverse("admin:django_batchqueue_batch_change", args=[batch.pk])


def table(html: str, table_id: str) -> str:
    pattern = rf'<fieldset class="module bq-jobs-module" id="{table_id}">(.*?)</fieldset>'
    match = re.search(pattern, html, re.S)
    assert match, f"no table {table_id}"
    return match.group(1)


def test_page_is_read_only_and_json_is_pretty_and_escaped(admin_client):
    batch = make_batch(
        name="<b>bold</b> batch",
        context={"order_id": 7, "note": "<script>alert(1)</script>"},
    )
    response = admin_client.get(page_url(batch))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>bold</b>" not in html
    # Pretty-printed: one key per line, indented.
    assert "{\n  &quot;note&quot;: &quot;&lt;script&gt;" in html
    assert 'name="_save"' not in html and "deletelink" not in html
    # No add, no edit, no delete, whatever the user's permissions.
    assert admin_client.post(page_url(batch), {"name": "edited"}).status_code == 403
    assert Batch.objects.get(pk=batch.pk).name == "<b>bold</b> batch"
    assert admin_client.get(reverse("admin:django_batchqueue_batch_add")).status_code == 403
    delete = reverse("admin:django_batchqueue_batch_delete", args=[batch.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert Batch.objects.filter(pk=batch.pk).exists()


def test_jobs_in_position_order_with_error_result_and_duration(admin_client):
    batch = make_batch(jobs=4, completed=2, failed=1, status="failed")
    html = admin_client.get(page_url(batch)).content.decode()
    jobs = table(html, "bq-jobs")
    positions = [int(p) for p in re.findall(r'data-bq-job="[^"]+">\s*<td>(\d+)</td>', jobs)]
    assert positions == [0, 1, 2, 3]
    assert "RuntimeError: job 2 broke" in jobs
    assert "{&quot;n&quot;: 1, &quot;square&quot;: 1}" in jobs
    assert "1.00 s" in jobs  # started/finished one second apart
    assert "Square" in jobs


def test_compensations_and_callbacks_are_shown_apart_and_marked(admin_client):
    batch = make_batch(
        jobs=3,
        type="sequential",
        status="failed",
        completed=2,
        failed=1,
        compensation_status="completed",
    )
    now = timezone.now()
    steps = {j.position: j for j in batch.jobs.all()}
    # Compensations ran in reverse order: position 1 first, then 0.
    for order, position in enumerate([1, 0]):
        BatchJob.objects.create(
            batch=batch,
            kind="compensation",
            position=position,
            compensates=steps[position],
            job_path="tests.testapp.jobs.Undo",
            status="completed",
            attempts=1,
            result={"undone": position},
            started_at=now + timedelta(seconds=order),
            finished_at=now + timedelta(seconds=order),
        )
    BatchJob.objects.create(
        batch=batch,
        kind="callback",
        event="on_failure",
        position=0,
        job_path="tests.testapp.jobs.RecordCallback",
        status="completed",
        attempts=1,
        started_at=now - timedelta(seconds=1),
    )
    html = admin_client.get(page_url(batch)).content.decode()
    comps = table(html, "bq-compensations")
    assert comps.count("bq-kind-tag-compensation") == 2
    assert [int(p) for p in re.findall(r'data-bq-job="[^"]+">\s*<td>(\d+)</td>', comps)] == [1, 0]
    callbacks = table(html, "bq-callbacks")
    assert "RecordCallback" in callbacks and "on_failure" in callbacks
    assert "Undo" not in table(html, "bq-jobs") and "RecordCallback" not in table(html, "bq-jobs")
    # The run order interleaves steps, the callback and compensations by start time.
    timeline = table(html, "bq-timeline")
    kinds = re.findall(r'<td><span class="bq-kind bq-kind-tag-(\w+)">', timeline)
    assert kinds == ["job", "job", "job", "callback", "compensation", "compensation"]


def test_parallel_batch_has_no_run_order_table(admin_client):
    html = admin_client.get(page_url(make_batch())).content.decode()
    assert 'id="bq-timeline"' not in html and 'id="bq-jobs"' in html


def _page_queries(client, batch) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(page_url(batch))
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_huge_batch_page_is_capped_and_costs_what_a_small_one_costs(admin_client):
    small = make_batch(jobs=3, completed=3, status="completed")
    huge = make_batch(jobs=10_000, completed=6_000, failed=10)
    small_queries = _page_queries(admin_client, small)
    huge_queries = _page_queries(admin_client, huge)
    print(f"batch page queries: 3 jobs -> {small_queries}, 10,000 jobs -> {huge_queries}")
    assert huge_queries == small_queries
    html = admin_client.get(page_url(huge)).content.decode()
    jobs = table(html, "bq-jobs")
    assert jobs.count("data-bq-job=") == ROWS_SHOWN
    assert f"first {ROWS_SHOWN} of 10000" in jobs
    link = re.search(r'<a href="([^"]+)">See all 10000 in the job list</a>', jobs).group(1)
    listing = admin_client.get(link.replace("&amp;", "&"))
    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 10_000


def test_job_changelist_filters_and_search(admin_client):
    batch = make_batch(jobs=3, completed=1, failed=1, status="failed", name="Alpha")
    make_batch(jobs=2, name="Beta")
    url = reverse("admin:django_batchqueue_batchjob_changelist")
    response = admin_client.get(url, {"status__exact": "failed"})
    assert [j.position for j in response.context["cl"].result_list] == [1]
    response = admin_client.get(url, {"kind__exact": "job", "q": "Alpha"})
    assert response.context["cl"].result_count == 3
    response = admin_client.get(url, {"q": str(batch.pk)})
    assert response.context["cl"].result_count == 3
    job = batch.jobs.get(position=1)
    page = admin_client.get(reverse("admin:django_batchqueue_batchjob_change", args=[job.pk]))
    assert page.status_code == 200 and "RuntimeError: job 1 broke" in page.content.decode()
    assert (
        admin_client.post(
            reverse("admin:django_batchqueue_batchjob_change", args=[job.pk]), {}
        ).status_code
        == 403
    )


@pytest.mark.django_db(transaction=True)
def test_the_page_tells_waiting_jobs_from_queued_ones(admin_client, manager):
    from tests.testapp.jobs import Square

    batch_id = (
        manager.batch([{"class": Square, "args": {"n": i}} for i in range(7)])
        .max_concurrency(3)
        .dispatch()
    )
    html = admin_client.get(page_url(Batch.objects.get(pk=batch_id))).content.decode()
    text = re.sub(r"<[^>]+>", "", html)
    assert "7 not finished: 3 queued or running, 4 waiting for their turn" in text
    assert "at most 3 at once" in text
    progress = admin_client.get(
        reverse("admin:django_batchqueue_batch_progress") + f"?ids={batch_id}"
    ).json()["batches"][batch_id]
    assert (progress["active_jobs"], progress["waiting_jobs"]) == (3, 4)
