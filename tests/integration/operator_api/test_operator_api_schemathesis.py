"""Schemathesis against the real operator API: every generated request, every check passes.

The API runs on the real stack of this package's other tests (Postgres, the broker, the ledger
consumer, the simulator as Hypetech), in a thread of its own so the synchronous Schemathesis tests
can call it over real HTTP. Schemathesis reads the OpenAPI document the API serves and, per
operation, sends a bounded number of generated requests, valid and invalid (with
``HYPELEDGER_SCHEMATHESIS=full`` also the coverage cases: ``tests.integration.schemathesis_config``),
with the bearer token (and, by the ignored-auth check, without it: 401). Every answer must be
documented: its status, content type, headers and body schema; valid data must not be a server
error and invalid data must be refused with a 4xx.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis import Case

from services.operator_api import openapi
from tests.integration.in_thread import in_thread
from tests.integration.operator_api.conftest import TOKEN, Stack, stack_for
from tests.integration.schemathesis_config import EXAMPLES, config

pytestmark = [
    pytest.mark.integration,
    pytest.mark.serial,
    # aiokafka, in the stack's thread, uses `random` while Hypothesis draws examples.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]


@pytest.fixture(scope="module")
def served(common_env: dict[str, Any]) -> Iterator[Stack]:
    with in_thread(lambda: stack_for(common_env)) as stack:
        yield stack


#: Schemathesis sends the token, and knows it: its ignored-auth check sends each request again
#: without it and with a wrong one, and wants 401.
AUTH = {"openapi": {"bearer": {"bearer": TOKEN}}}
schema = schemathesis.openapi.from_dict(openapi.document(), config=config(auth=AUTH))


#: How many generated requests got each status, for the last test.
ANSWERED: Counter[int] = Counter()


@schema.parametrize()
def test_every_answer_is_documented(case: Case, served: Stack) -> None:
    response = case.call_and_validate(base_url=served.api_url)

    ANSWERED[response.status_code] += 1


def test_the_generated_requests_were_authenticated_and_refused_as_documented() -> None:
    """Runs after the test above (same module, in order): valid and invalid requests got
    through the bearer check to the handlers (200, 400, 404; 401 is the ignored-auth check's)."""
    operations = sum(len(methods) for methods in openapi.document()["paths"].values())

    assert sum(ANSWERED.values()) >= operations * EXAMPLES // 2, ANSWERED
    assert {200, 400, 404} <= set(ANSWERED), ANSWERED
