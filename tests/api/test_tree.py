"""Nested batches in the REST API: parent_id, root_id and the children of a batch."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_batchqueue import batch, chain
from django_batchqueue.testing import drain
from tests.testapp.jobs import Square

from .conftest import API

pytestmark = pytest.mark.django_db(transaction=True)


def tree(children: int) -> str:
    return chain(
        [
            {"class": Square, "args": {"n": 1}},
            batch([chain([{"class": Square, "args": {"n": i}}]) for i in range(children)]).name(
                "fan-out"
            ),
        ]
    ).dispatch()


def test_detail_gives_parent_root_and_children(staff_client, manager):
    root = tree(3)
    drain(max_jobs=2)  # the first step and one leaf
    detail = staff_client.get(f"{API}batches/{root}/").json()
    (fan_out,) = manager.get_children(root)
    assert (detail["parent_id"], detail["root_id"]) == (None, root)
    assert [(c["id"], c["position"], c["type"], c["name"]) for c in detail["children"]] == [
        (str(fan_out.pk), 1, "parallel", "fan-out")
    ]
    assert detail["children"][0]["progress"]["total_jobs"] == 3
    assert detail["progress"]["leaf"] == {
        "total_jobs": 4,
        "completed_jobs": 2,
        "failed_jobs": 0,
        "cancelled_jobs": 0,
    }
    assert detail["progress"]["progress_percentage"] == 50  # from the leaves
    child = staff_client.get(f"{API}batches/{fan_out.pk}/").json()
    assert (child["parent_id"], child["root_id"]) == (root, root)
    assert len(child["children"]) == 3


def test_detail_and_progress_cost_the_same_for_a_bigger_tree(staff_client):
    costs = {}
    for n in (2, 25):
        root = tree(n)
        costs[n] = []
        for suffix in ("", "progress/"):
            with CaptureQueriesContext(connection) as ctx:
                assert staff_client.get(f"{API}batches/{root}/{suffix}").status_code == 200
            costs[n].append(len(ctx.captured_queries))
    assert costs[2] == costs[25], costs
