"""The worker runs only Job subclasses and @job functions, whatever a row names (contract §2)."""

import pytest

from django_batchqueue.testing import drain
from tests import reads, tamper
from tests.testapp.jobs import Square
from tests.testapp.models import Event

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    "path",
    [
        "os.system",
        "subprocess.call",
        "tests.testapp.jobs.not_a_job",
        "tests.testapp.jobs.NotAJob",
        "tests.testapp.models.record",
        "tests.testapp.jobs.record",
        "builtins.eval",
        "..relative",
        "tests.testapp.jobs.Missing",
    ],
)
def test_a_tampered_row_runs_nothing_and_fails_clearly(manager, path, tmp_path):
    batch_id = manager.batch([{"class": Square, "args": {"n": 4}}]).dispatch()
    tamper.job(reads.job(batch_id).id, job_path=path)
    assert drain() == 1
    job = reads.job(batch_id)
    assert job.status == "failed" and job.attempts == 1
    assert "JobImportError" in job.error and (path in job.error)
    assert not Event.objects.exists()  # record() never ran
    assert manager.get_batch(batch_id).status == "failed"


def test_a_tampered_compensation_path_is_refused_too(manager):
    batch_id = manager.chain(
        [[Square, "tests.testapp.jobs.Undo"], "tests.testapp.jobs.Boom"]
    ).dispatch()
    tamper.job(reads.job(batch_id, position=0).id, compensation_path="os.system", args={"n": 1})
    drain()
    comp = reads.job(batch_id, kind="compensation")
    assert comp.status == "failed" and "os.system" in comp.error
