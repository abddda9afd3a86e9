"""Nested batches on real workers of the recommended class (contract §9)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from django_batchqueue import batch, chain
from tests import reads
from tests.conftest import wait_for
from tests.testapp import jobs
from tests.testapp.models import Event

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.usefixtures("each_storage"),
]

WORKERS = [
    "django_batchqueue.worker.PersistentBatchWorker",  # the recommended worker
    "django_batchqueue.worker.BatchWorker",
]


def settled(*batch_ids):
    return lambda: reads.settled(*batch_ids)


@pytest.mark.parametrize("worker", WORKERS, ids=lambda w: w.rsplit(".", 1)[-1])
def test_an_import_fans_out_and_in_across_three_levels(manager, workers, worker):
    root = (
        chain(
            [
                {"class": jobs.PrepareImport, "args": {"rows": 5}},
                batch(
                    [
                        chain([{"class": jobs.ImportRow, "args": {"row": r}} for r in rows])
                        for rows in ((1, 2), (3, 4), (5,))
                    ]
                ).allow_failures(),
                jobs.FinalizeImport,
            ]
        )
        .set_context({"upload": "u1"})
        .on_complete({"class": jobs.RecordCallback, "args": {"tag": "root"}})
        .dispatch()
    )
    workers.start(2, worker_class=worker)
    wait_for(settled(root), timeout=120, message="the tree to settle")
    top = reads.batch(root)
    assert (top.status, top.completed_jobs, top.total_jobs) == ("completed", 3, 3)
    (fan_out,) = manager.get_children(root)
    assert (fan_out.status, fan_out.completed_jobs, fan_out.failed_jobs) == ("completed", 2, 1)
    leaves = manager.get_children(fan_out.id)
    assert [c.status for c in leaves] == ["completed", "failed", "completed"]
    assert {c.root_id for c in leaves} == {top.id} and {c.parent_id for c in leaves} == {fan_out.id}
    # Context copied down three levels; the failed row (3) stopped its chain (4 never ran).
    assert {e.payload["context"]["prepared_rows"] for e in Event.objects.filter(label="row")} == {5}
    assert sorted(e.payload["row"] for e in Event.objects.filter(label="row")) == [1, 2, 3, 5]
    (final,) = Event.objects.filter(label="finalize")
    # The fan-in step sees the nested batch's result: each chain's last result, None if failed.
    assert final.payload["previous"] == [
        {"row": 2, "amount": "24.68"},
        None,
        {"row": 5, "amount": "61.70"},
    ]
    assert Decimal(final.payload["previous"][0]["amount"]) == jobs.PRICE * 2
    assert manager.get_job_result(root, reads.job(root, None, position=2).pk) == {
        "imported": 2,
        "of": 3,
    }
    progress = manager.get_progress(root)
    assert progress["leaf"] == {
        "total_jobs": 7,
        "completed_jobs": 5,
        "failed_jobs": 1,
        "cancelled_jobs": 1,
    }
    assert [e.payload["status"] for e in Event.objects.filter(label="callback:root")] == [
        "completed"
    ]


@pytest.mark.parametrize("worker", WORKERS, ids=lambda w: w.rsplit(".", 1)[-1])
def test_a_failing_nested_step_undoes_the_tree_newest_first(manager, workers, worker):
    root = chain(
        [
            {"class": jobs.Step, "args": {"name": "a"}, "compensation": jobs.Undo},
            batch(
                [
                    {"class": jobs.Step, "args": {"name": f"b{i}"}, "compensation": jobs.Undo}
                    for i in (1, 2)
                ]
            ),
            {"class": jobs.Maybe, "args": {"name": "c", "fail": True}},
        ]
    ).dispatch()
    workers.start(2, worker_class=worker)
    wait_for(settled(root), timeout=120, message="the tree to settle")
    top = reads.batch(root)
    (child,) = manager.get_children(root)
    assert (top.status, top.compensation_status, child.compensation_status) == (
        "failed",
        "completed",
        "completed",
    )
    undone = [
        (e.payload["args"].get("name"), e.payload["original_position"])
        for e in Event.objects.filter(label="undo")
    ]
    assert undone == [("b2", 1), ("b1", 0), ("a", 0)]  # the nested batch as a unit, then a
