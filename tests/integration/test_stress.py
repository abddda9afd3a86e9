"""A smaller run of bench/stress.py in the suite: 4 worker processes, racing completions,
additions and cancels; every invariant checked."""

import random

import pytest

from bench.stress import check, dispatch_round, wait_settled

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.mark.parametrize(
    "worker_class",
    ["django_batchqueue.worker.SimpleBatchWorker", "django_batchqueue.worker.BatchWorker"],
)
def test_concurrent_workers_lose_nothing_and_duplicate_nothing(manager, workers, worker_class):
    workers.start(4, worker_class=worker_class)
    plan = dispatch_round(manager, big=200, chains=10, races=4, rng=random.Random(7))
    assert wait_settled(plan.batch_ids, timeout=240), "batches did not settle"
    problems, figures = check(plan)
    assert problems == []
    assert figures["batches"] == 1 + 10 + 4 + 4
    assert figures["callbacks"] == figures["batches"] - figures["cancelled"]
    assert figures["added"] >= 4 * 5
    print(f"\n{worker_class}: {dict(figures)}")
