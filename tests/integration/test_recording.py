"""Recording an outcome never loses the real reason a run ended."""

from __future__ import annotations

import json

import pytest

from django_batchqueue.execution import outcomes
from django_batchqueue.execution.recording import Outcome
from django_batchqueue.testing import drain
from tests import reads
from tests.testapp.jobs import Square

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_outcome_that_cannot_be_encoded_becomes_the_failure_that_says_why():
    decoded = Outcome.decode(Outcome.success({"when": object()}, None).encode())
    assert (decoded.ok, decoded.permanent) == (False, True)
    assert decoded.error.startswith("TypeError: Object of type object is not JSON serializable")
    assert "Traceback" in decoded.trace


def test_outcomes_are_encoded_as_storage_encodes_results():
    from decimal import Decimal
    from uuid import UUID

    outcome = Outcome.success({"total": Decimal("1.10"), "ref": UUID(int=1)}, {"n": Decimal(2)})
    assert json.loads(outcome.encode())["result"] == {
        "total": "1.10",
        "ref": "00000000-0000-0000-0000-000000000001",
    }


def test_a_success_that_cannot_be_recorded_is_recorded_as_a_failure_with_its_traceback(
    manager, monkeypatch
):
    def broken(row, result, context):
        raise ValueError("the recorder broke")

    monkeypatch.setattr(outcomes, "run_succeeded", broken)
    batch_id = manager.batch([{"class": Square, "args": {"n": 2}}]).dispatch()
    drain()
    row = reads.job(batch_id)
    assert (row.status, row.error) == ("failed", "ValueError: the recorder broke")
    assert "the recorder broke" in row.traceback and "broken" in row.traceback
    assert reads.batch(batch_id).status == "failed"
