"""manage.py batchqueue_prune (contract §8)."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from django_batchqueue.models import Batch, BatchJob
from django_batchqueue.testing import drain
from tests.testapp.jobs import Maybe, Square, Undo

pytestmark = pytest.mark.django_db(transaction=True)


def make(manager, *, finished_hours_ago=None, created_hours_ago=None, saga=False):
    jobs = (
        [{"class": Maybe, "args": {"name": "a"}, "compensation": Undo}, "tests.testapp.jobs.Boom"]
        if saga
        else [{"class": Square, "args": {"n": 1}}] * 3
    )
    batch_id = (manager.chain(jobs) if saga else manager.batch(jobs)).dispatch()
    if finished_hours_ago is not None:
        drain()
        Batch.objects.filter(pk=batch_id).update(
            finished_at=timezone.now() - timedelta(hours=finished_hours_ago)
        )
    if created_hours_ago is not None:
        Batch.objects.filter(pk=batch_id).update(
            created_at=timezone.now() - timedelta(hours=created_hours_ago)
        )
    return batch_id


def run(*args):
    out = StringIO()
    call_command("batchqueue_prune", *args, stdout=out)
    return out.getvalue().strip()


@pytest.mark.sql_only("backdates batches through the ORM (Redis: test_redis_storage.py)")
def test_dry_run_says_what_it_would_delete_and_deletes_nothing(manager):
    make(manager, finished_hours_ago=50)
    make(manager, created_hours_ago=80)
    assert run("--hours=48", "--unfinished=72", "--dry-run") == (
        "Would delete 1 finished batch(es) older than 48h and 1 unfinished batch(es) created "
        "more than 72h ago, with 6 job row(s)."
    )
    assert Batch.objects.count() == 2 and BatchJob.objects.count() == 6


@pytest.mark.sql_only("backdates batches through the ORM (Redis: test_redis_storage.py)")
def test_prune_deletes_old_batches_with_all_their_rows(manager):
    old = make(manager, finished_hours_ago=50, saga=True)  # jobs, callbacks, compensations
    recent = make(manager, finished_hours_ago=10)
    stale = make(manager, created_hours_ago=80)
    young = make(manager, created_hours_ago=1)
    assert BatchJob.objects.filter(batch_id=old, kind="compensation").exists()
    rows_old = BatchJob.objects.filter(batch_id=old).count()
    assert run("--hours=48") == (
        f"Deleted 1 finished batch(es) older than 48h, with {rows_old} job row(s)."
    )
    assert set(Batch.objects.values_list("pk", flat=True)) == {
        __import__("uuid").UUID(b) for b in (recent, stale, young)
    }
    assert run("--hours=48", "--unfinished=72") == (
        "Deleted 0 finished batch(es) older than 48h and 1 unfinished batch(es) created more "
        "than 72h ago, with 3 job row(s)."
    )
    assert not Batch.objects.filter(pk=stale).exists()
    assert not BatchJob.objects.filter(batch_id__in=[old, stale]).exists()
    assert Batch.objects.filter(pk__in=[recent, young]).count() == 2


def test_a_worker_meeting_a_pruned_row_runs_nothing(manager):
    make(manager, created_hours_ago=80)
    run("--hours=48", "--unfinished=72")
    assert drain() == 3  # the RQ jobs ran and found no row


def test_negative_ages_are_refused():
    with pytest.raises(CommandError, match="--hours"):
        run("--hours=-1")
