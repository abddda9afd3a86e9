"""The OpenAPI schema is served, describes only this API, and the API honours it under fuzzing.

The fuzzing test runs schemathesis (positive and negative data) through the WSGI application,
authenticated as a staff user allowed to cancel and retry, against batches in every state:
no 5xx, and every response (status, content type, body) conforms to the schema.
"""

from __future__ import annotations

import base64

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode

from django_batchqueue import batch, chain
from django_batchqueue.testing import drain
from tests.testapp.jobs import Boom, Maybe, Square, Undo

from .conftest import API, dispatch_squares, make_user

SCHEMA_URL = f"{API}schema/?format=json"
#: Examples per operation and generation mode (7 operations x 2 modes).
MAX_EXAMPLES = 20
#: An index into the fuzz_data batches, or None to keep the generated id.
KNOWN_IDS = st.one_of(st.none(), st.integers(min_value=0, max_value=3))


@pytest.mark.django_db
def test_schema_is_served_and_lists_only_the_batch_api(staff_client):
    response = staff_client.get(SCHEMA_URL)
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert sorted(schema["paths"]) == [
        f"{API}batches/",
        f"{API}batches/{{id}}/",
        f"{API}batches/{{id}}/cancel/",
        f"{API}batches/{{id}}/jobs/",
        f"{API}batches/{{id}}/progress/",
        f"{API}batches/{{id}}/results/",
        f"{API}batches/{{id}}/retry/",
    ]
    listing = schema["paths"][f"{API}batches/"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {
        "status",
        "type",
        "has_compensation",
        "name",
        "created_after",
        "created_before",
        "page",
    }
    assert staff_client.get(f"{API}schema/").status_code == 200  # YAML by default


def _basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def fuzz_data(settings):
    """Batches in every state, and Basic auth headers of an operator (staff + change_batch)."""
    # A fast hasher: Basic auth checks the password on every request.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    make_user("fuzzer", staff=True, control=True, password="pw")
    ids = [
        dispatch_squares(3, name="completed"),
        batch([{"class": Square, "args": {"n": 1}}, Boom]).name("failed").dispatch(),
        chain(
            [
                {"class": Maybe, "args": {"name": "a"}, "compensation": Undo},
                {"class": Maybe, "args": {"name": "b", "fail": True}},
            ]
        ).dispatch(),
    ]
    drain()
    ids.append(dispatch_squares(2, name="pending"))  # not drained: stays pending
    return {"ids": ids, "headers": _basic("fuzzer", "pw")}


def load_schema(headers: dict[str, str]):
    """The served schema, loaded through the WSGI application (requests go the same way)."""
    schema = schemathesis.openapi.from_wsgi(SCHEMA_URL, get_wsgi_application(), headers=headers)
    schema.config.generation.update(
        # Unknown query parameters are ignored, as in most APIs (a poller's cache buster must
        # not break it), so sending them is not "negative" data here.
        allow_extra_parameters=False,
        # Requests authenticate as the operator (Basic); no generated cookies or credentials.
        with_security_parameters=False,
    )
    return schema


# Transactional: the WSGI handler closes "obsolete" connections after each request, which would
# break the surrounding transaction of a non-transactional test.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_schema_under_fuzzing(fuzz_data, mode):
    # schemathesis's pytest plugin (schema.parametrize) does not run on pytest 9.2, so each
    # operation's strategy is driven by Hypothesis directly; the checks are schemathesis's own.
    headers = fuzz_data["headers"]
    operations = [result.ok() for result in load_schema(headers).get_all_operations()]
    assert len(operations) == 7
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode), known=KNOWN_IDS)
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case, known):
            # Random UUIDs only ever find nothing: most positive cases use a real batch's id.
            if (
                mode is GenerationMode.POSITIVE
                and known is not None
                and "id" in (case.path_parameters or {})
            ):
                case.path_parameters["id"] = fuzz_data["ids"][known]
            case.call_and_validate(headers=headers)

        try:
            check()
        except Unsatisfiable:
            # Nothing schema-violating can be sent to an operation whose only input is a path
            # segment (every string is a possible id there).
            assert mode is GenerationMode.NEGATIVE, operation.label
            print(f"no negative data for {operation.label}")
