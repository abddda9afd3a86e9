import pytest

from django_batchqueue.testing import drain
from tests import reads
from tests.testapp.jobs import Square, Step, SumResults
from tests.testapp.models import Event

pytestmark = pytest.mark.django_db(transaction=True)


def test_parallel_map_reduce(manager):
    batch_id = (
        manager.batch([{"class": Square, "args": {"n": n}} for n in range(5)])
        .on_complete(SumResults)
        .dispatch()
    )
    ran = drain()
    assert ran == 6
    batch = reads.batch(batch_id)
    assert batch.status == "completed"
    assert batch.completed_jobs == 5
    assert Event.objects.get(label="sum").payload["total"] == 30


def test_chain_context(manager):
    batch_id = (
        manager.chain([{"class": Step, "args": {"name": n}} for n in "abc"])
        .set_context({"steps": []})
        .dispatch()
    )
    assert drain() == 3
    batch = reads.batch(batch_id)
    assert batch.status == "completed"
    assert batch.context["steps"] == ["a", "b", "c"]
