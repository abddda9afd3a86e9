"""``manage.py batchqueue_status`` on the SQL storage, with batches run by real RQ (``drain``)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from django_batchqueue import batch
from django_batchqueue.testing import drain
from tests.testapp.jobs import Square


@pytest.mark.django_db(transaction=True)
def test_lists_and_follows_batches_on_sql_storage():
    batch_id = batch([{"class": Square, "args": {"n": n}} for n in range(4)]).name("sq").dispatch()
    drain(max_jobs=1)
    listed = StringIO()
    call_command("batchqueue_status", "--ascii", stdout=listed)
    assert batch_id in listed.getvalue() and "1/4" in listed.getvalue()
    drain()
    followed = StringIO()
    call_command("batchqueue_status", batch_id, "--watch", "--ascii", stdout=followed)
    assert "status    completed" in followed.getvalue()
    assert "4 completed, 0 failed, 0 cancelled of 4" in followed.getvalue()
