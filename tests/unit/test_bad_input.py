"""Contract §3: every bad input is refused at dispatch (or earlier) with an error naming it,
and nothing is written or enqueued."""

import pytest

from django_batchqueue import BatchManager
from django_batchqueue.exceptions import (
    BatchQueueError,
    InvalidDefinition,
    JobImportError,
    SerializationError,
    UnknownQueue,
)
from django_batchqueue.models import Batch, BatchJob
from tests.testapp.jobs import NotAJob, RecordCallback, Square, not_a_job

pytestmark = pytest.mark.django_db(transaction=True)


class Weird:
    pass


def build(jobs, **options):
    builder = (
        BatchManager().chain(jobs) if options.pop("chain", False) else BatchManager().batch(jobs)
    )
    for method, arg in options.items():
        builder = getattr(builder, method)(arg)
    return builder.dispatch()


CASES = [
    # (id, callable, expected exception, text the message must contain)
    ("empty", lambda: build([]), InvalidDefinition, "at least one job"),
    ("only-skipped", lambda: build([None, False]), InvalidDefinition, "at least one job"),
    (
        "unimportable-path",
        lambda: build([Square, "tests.testapp.jobs.Missing"]),
        JobImportError,
        "tests.testapp.jobs.Missing",
    ),
    (
        "unimportable-module",
        lambda: build(["tests.testapp.nowhere.Job"]),
        JobImportError,
        "tests.testapp.nowhere.Job",
    ),
    (
        "path-not-a-job",
        lambda: build(["tests.testapp.jobs.not_a_job"]),
        JobImportError,
        "not_a_job",
    ),
    ("path-outside-apps", lambda: build(["os.system"]), JobImportError, "os.system"),
    ("function-not-decorated", lambda: build([not_a_job]), JobImportError, "not_a_job"),
    ("class-not-job", lambda: build([NotAJob]), JobImportError, "NotAJob"),
    (
        "compensation-not-job",
        lambda: build([[Square, "tests.testapp.jobs.not_a_job"]]),
        JobImportError,
        "jobs[0].compensation",
    ),
    (
        "args-not-json",
        lambda: build([Square, {"class": Square, "args": {"n": Weird()}}]),
        SerializationError,
        "jobs[1].args['n']",
    ),
    (
        "nested-args-not-json",
        lambda: build([{"class": Square, "args": {"n": {"deep": [1, {2}]}}}]),
        SerializationError,
        "jobs[0].args['n']['deep'][1]",
    ),
    (
        "nan-args",
        lambda: build([{"class": Square, "args": {"n": float("nan")}}]),
        SerializationError,
        "jobs[0].args['n']",
    ),
    (
        "args-not-dict",
        lambda: build([{"class": Square, "args": [1, 2]}]),
        InvalidDefinition,
        "jobs[0].args",
    ),
    (
        "context-not-json",
        lambda: build([Square], set_context={"user": Weird()}),
        SerializationError,
        "context['user']",
    ),
    ("context-not-dict", lambda: build([Square], set_context=[1]), InvalidDefinition, "context"),
    (
        "callback-args-not-json",
        lambda: build([Square], on_complete={"class": RecordCallback, "args": {"x": {1, 2}}}),
        SerializationError,
        "on_complete.args['x']",
    ),
    (
        "callback-unimportable",
        lambda: build([Square], on_failure="tests.testapp.jobs.Nope"),
        JobImportError,
        "tests.testapp.jobs.Nope",
    ),
    (
        "callback-reserved-arg",
        lambda: build([Square], on_complete={"class": RecordCallback, "args": {"status": 1}}),
        InvalidDefinition,
        "'status'",
    ),
    (
        "allow-failures-on-chain",
        lambda: build([Square], chain=True, allow_failures=True),
        InvalidDefinition,
        "allow_failures",
    ),
    ("unknown-named-queue", lambda: build([Square], queue="nope"), UnknownQueue, "'nope'"),
    (
        "unknown-rq-queue",
        lambda: build([Square], queue_config="not-in-rq-queues"),
        UnknownQueue,
        "'not-in-rq-queues'",
    ),
    (
        "dict-without-class",
        lambda: build([Square, {"args": {"n": 1}}]),
        InvalidDefinition,
        "jobs[1]",
    ),
    (
        "dict-unknown-key",
        lambda: build([{"class": Square, "arg": {"n": 1}}]),
        InvalidDefinition,
        "'arg'",
    ),
    (
        "list-of-three",
        lambda: build([Square, Square, [Square, Square, Square]]),
        InvalidDefinition,
        "jobs[2]",
    ),
    ("int", lambda: build([Square, 7]), InvalidDefinition, "jobs[1]"),
    ("true", lambda: build([True]), InvalidDefinition, "jobs[0]"),
    ("jobs-not-a-list", lambda: build({"class": Square}), InvalidDefinition, "list"),
    (
        "bad-max-retries",
        lambda: build([{"class": Square, "max_retries": -1}]),
        InvalidDefinition,
        "max_retries",
    ),
    (
        "bad-timeout",
        lambda: build([{"class": Square, "timeout": "10"}]),
        InvalidDefinition,
        "timeout",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_and_nothing_is_written(case, clean_redis):
    _, call, exc_type, needle = case
    with pytest.raises(exc_type) as info:
        call()
    assert isinstance(info.value, BatchQueueError)
    assert needle in str(info.value), str(info.value)
    assert Batch.objects.count() == 0
    assert BatchJob.objects.count() == 0
    assert [k for k in clean_redis.keys("rq:*")] == []


def test_bad_input_errors_are_value_errors_where_the_contract_says_so():
    with pytest.raises(ValueError):
        build([])
    with pytest.raises(ValueError):
        build([Square], chain=True, allow_failures=True)


def test_path_outside_installed_apps_is_not_even_imported():
    import sys

    sys.modules.pop("antigravity", None)
    with pytest.raises(JobImportError):
        build(["antigravity.fly"])
    assert "antigravity" not in sys.modules
