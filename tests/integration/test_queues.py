"""Named queues: every RQ job of a batch travels on its queue (contract §4, §6)."""

import pytest

from django_batchqueue.execution.queues import get_queue
from django_batchqueue.testing import drain
from tests import reads
from tests.testapp.jobs import Maybe, RecordCallback, Square, Undo

pytestmark = pytest.mark.django_db(transaction=True)


def origins(queue_name):
    return [job.origin for job in get_queue(queue_name).get_jobs()]


def test_named_queue_carries_jobs_callbacks_compensations_and_added_jobs(manager):
    batch_id = (
        manager.chain(
            [
                {"class": Maybe, "args": {"name": "a"}, "compensation": Undo},
                {
                    "class": "tests.testapp.jobs.AddMore",
                    "args": {
                        "add": [
                            {
                                "class": "tests.testapp.jobs.Maybe",
                                "args": {"name": "added", "fail": True},
                            }
                        ]
                    },
                },
            ]
        )
        .queue("email-processing")
        .on_failure(RecordCallback)
        .dispatch()
    )
    assert reads.batch(batch_id).queue == "email-chain"
    seen = set()
    while True:
        seen.update(origins("email-chain"))
        assert get_queue("batchjob").count == 0, "nothing may land on the default queue"
        if not drain(max_jobs=1):
            break
    assert seen == {"email-chain"}
    # step a, the adder, the added step (fails), the callback and the compensation all ran.
    kinds = sorted((r.kind, r.status) for r in reads.jobs(batch_id, None))
    assert kinds == [
        ("callback", "completed"),
        ("compensation", "completed"),
        ("job", "completed"),
        ("job", "completed"),
        ("job", "failed"),
    ]


def test_queue_config_picks_an_rq_queue_directly(manager):
    manager.batch([{"class": Square, "args": {"n": 2}}] * 3).queue_config("other").dispatch()
    assert get_queue("other").count == 3 and get_queue("batchjob").count == 0
    assert drain(queues=["other"]) == 3


def test_default_queue_setting(manager, settings):
    settings.BATCHQUEUE = {**settings.BATCHQUEUE, "DEFAULT_QUEUE": "other"}
    batch_id = manager.batch([Square]).dispatch()
    assert reads.batch(batch_id).queue == "other"
    assert get_queue("other").count == 1
