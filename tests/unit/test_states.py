"""A chain's type is named the same way in Python, the admin and the API."""

from __future__ import annotations

import pytest

from django_batchqueue.states import BatchType


def test_chain_is_accepted_for_sequential():
    assert BatchType("chain") is BatchType.SEQUENTIAL
    assert BatchType("sequential") is BatchType.SEQUENTIAL
    assert BatchType.SEQUENTIAL.label == "Chain"
    # the stored values (and so the migrations) are unchanged
    assert BatchType.values == ["parallel", "sequential"]
    with pytest.raises(ValueError):
        BatchType("serial")
