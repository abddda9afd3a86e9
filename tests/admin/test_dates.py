"""Dates on the admin pages: Django's own DATETIME_FORMAT everywhere (so one page uses one
format), in the current time zone with ``USE_TZ = True``, and as stored with ``USE_TZ = False``
(which used to be a 500)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from django_batchqueue.models import Batch
from django_batchqueue.testing import drain
from tests.testapp.jobs import Square

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.sql_only(
        "the model admin's pages, over the Batch table (Redis storage: test_redis_storage.py)"
    ),
]

# A timestamp in the old hard-coded format, e.g. "2026-11-23 11:52:14".
OLD_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


def shown(value) -> str:
    """``value`` as the admin must show it: Django's DATETIME_FORMAT, in local time if aware."""
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    return date_format(local, "DATETIME_FORMAT")


@pytest.mark.parametrize(
    ("use_tz", "time_zone"), [(False, "UTC"), (True, "Asia/Tokyo")], ids=["naive", "aware"]
)
def test_batch_list_and_pages_render_dates_in_django_datetime_format(
    admin_client, manager, settings, use_tz, time_zone
):
    settings.USE_TZ = use_tz
    settings.TIME_ZONE = time_zone
    batch_id = (
        manager.chain([{"class": Square, "args": {"n": n}} for n in range(2)])
        .name("Dated chain")
        .dispatch()
    )
    assert drain() == 2
    batch = Batch.objects.get(pk=batch_id)
    assert batch.status == "completed"
    assert timezone.is_aware(batch.created_at) is use_tz
    first = batch.jobs.get(position=0)

    changelist = admin_client.get(reverse("admin:django_batchqueue_batch_changelist"))
    assert changelist.status_code == 200
    html = changelist.content.decode()
    assert f'class="bq-time">{shown(batch.created_at)}</time>' in html
    assert not OLD_FORMAT.search(html)

    page = admin_client.get(reverse("admin:django_batchqueue_batch_change", args=[batch_id]))
    assert page.status_code == 200
    html = page.content.decode()
    # Django's own read-only fields and the jobs tables, in the same format.
    for value in (batch.created_at, batch.started_at, batch.finished_at):
        assert shown(value) in html
    jobs_table = html.split('id="bq-jobs"', 1)[1].split("</fieldset>", 1)[0]
    assert f"<td>{shown(first.started_at)}</td>" in jobs_table
    assert f"<td>{shown(first.finished_at)}</td>" in jobs_table
    assert not OLD_FORMAT.search(html)

    jobs = admin_client.get(reverse("admin:django_batchqueue_batchjob_changelist"))
    assert jobs.status_code == 200
    assert shown(first.started_at) in jobs.content.decode()
    job_page = admin_client.get(reverse("admin:django_batchqueue_batchjob_change", args=[first.pk]))
    assert job_page.status_code == 200
    assert shown(first.finished_at) in job_page.content.decode()
