"""Nested batches in the admin: children on the parent's page, the parent on the child's, the
list showing top-level batches by default, and page costs that do not grow with the tree."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_batchqueue import batch, chain
from django_batchqueue.testing import drain
from tests.testapp.jobs import Boom, Square

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.sql_only(
        "the model admin's pages, over the Batch table (Redis storage: test_redis_storage.py)"
    ),
]

CHANGELIST = reverse("admin:django_batchqueue_batch_changelist")


def page(batch_id) -> str:
    return reverse("admin:django_batchqueue_batch_change", args=[batch_id])


def tree(children: int) -> str:
    return (
        chain(
            [
                {"class": Square, "args": {"n": 1}},
                batch(
                    [
                        chain([{"class": Square, "args": {"n": i}}]).name(f"row {i}")
                        for i in range(children)
                    ]
                )
                .name("fan-out")
                .allow_failures(),
                Boom,
            ]
        )
        .name("import")
        .dispatch()
    )


def test_the_parent_lists_its_children_and_each_child_links_back(admin_client, manager):
    root = tree(3)
    drain()
    (fan_out,) = manager.get_children(root)
    html = admin_client.get(page(root)).content.decode()
    assert 'id="bq-children"' in html
    assert f'href="{page(fan_out.pk)}">fan-out</a>' in html
    # The member row in the jobs table links to the nested batch's page too.
    assert re.search(rf'<a href="{page(fan_out.pk)}"[^>]*>nested batch</a>', html)
    child_html = admin_client.get(page(fan_out.pk)).content.decode()
    assert f'<a href="{page(root)}">import</a>' in child_html
    rows = manager.get_children(fan_out.pk)
    assert [r.name for r in rows] == ["row 0", "row 1", "row 2"]
    for row in rows:
        assert f'href="{page(row.pk)}">{row.name}</a>' in child_html
    grandchild_html = admin_client.get(page(rows[0].pk)).content.decode()
    assert f'in tree <a href="{page(root)}">{str(root)[:8]}</a>' in grandchild_html


def test_the_list_shows_top_level_batches_unless_asked_for_all(admin_client):
    root = tree(2)
    top = admin_client.get(CHANGELIST).content.decode()
    assert str(root)[:8] in top and "fan-out" not in top and "row 1" not in top
    everything = admin_client.get(CHANGELIST, {"level": "all"}).content.decode()
    assert "fan-out" in everything and "row 1" in everything
    nested = admin_client.get(CHANGELIST, {"level": "nested"}).content.decode()
    assert "fan-out" in nested and "import" not in nested


def test_page_costs_do_not_grow_with_the_tree(admin_client):
    admin_client.get(page(tree(1)))  # warm the per-process caches (content types)
    costs = {}
    for n in (2, 20):
        root = tree(n)
        drain()
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get(page(root)).status_code == 200
        costs[n] = len(ctx.captured_queries)
    assert costs[2] == costs[20], costs
