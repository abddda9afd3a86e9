"""Reading state (contract §5) and ids that are unknown or malformed."""

import uuid

import pytest

from django_batchqueue.exceptions import BatchNotFound, JobNotFound
from django_batchqueue.models import Batch
from django_batchqueue.storage import get_storage
from django_batchqueue.storage.records import BatchRecord
from django_batchqueue.testing import drain
from tests.reads import job
from tests.testapp.jobs import Square

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("each_storage")]

BAD_IDS = [str(uuid.uuid4()), "not-a-uuid", "", None, 42, "1; DROP TABLE x"]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_unknown_or_malformed_ids(manager, bad):
    assert manager.get_batch(bad) is None
    assert manager.get_progress(bad) is None
    for call in (manager.get_results, manager.cancel, manager.retry_failed):
        with pytest.raises(BatchNotFound):
            call(bad)
    with pytest.raises(BatchNotFound):
        manager.get_job_result(bad, uuid.uuid4())
    with pytest.raises(BatchNotFound):
        manager.add_jobs(bad, [Square])


def test_unknown_job_id(manager):
    batch_id = manager.batch([{"class": Square, "args": {"n": 2}}]).dispatch()
    for bad in (uuid.uuid4(), "nope"):
        with pytest.raises(JobNotFound):
            manager.get_job_result(batch_id, bad)


def test_get_batch_fields(manager):
    batch_id = (
        manager.batch([{"class": Square, "args": {"n": 2}}])
        .name("nightly")
        .set_context({"k": "v"})
        .dispatch()
    )
    drain()
    batch = manager.get_batch(batch_id)
    # SQL storage hands out the model instance (ORM, admin); other storages a record.
    assert isinstance(batch, Batch if get_storage().supports_querysets else BatchRecord)
    for field in (
        "id",
        "type",
        "status",
        "name",
        "total_jobs",
        "completed_jobs",
        "failed_jobs",
        "cancelled_jobs",
        "context",
        "queue",
        "compensation_status",
        "created_at",
        "finished_at",
    ):
        assert hasattr(batch, field)
    assert (batch.name, batch.queue, batch.context) == ("nightly", "batchjob", {"k": "v"})
    assert batch.compensation_status is None
    assert manager.get_batch(uuid.UUID(batch_id)).pk == batch.pk


def test_job_result_is_none_until_completed(manager):
    batch_id = manager.batch([{"class": Square, "args": {"n": 3}}]).dispatch()
    job_id = job(batch_id).pk
    assert manager.get_job_result(batch_id, job_id) is None
    drain()
    assert manager.get_job_result(batch_id, str(job_id)) == 9
