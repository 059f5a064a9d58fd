"""Schemathesis against the real ingress: every generated webhook, every check passes.

The ingress runs on the real stack (Postgres, the broker, the ledger consumer: the operator API's
stack, in a thread of its own) and Schemathesis sends each webhook route, GET and POST, a
bounded number of generated requests, valid and invalid (with ``HYPELEDGER_SCHEMATHESIS=full``
also the coverage cases: ``tests.integration.schemathesis_config``). Each
request is signed as Hypetech signs it (``Hype-Hash`` over the public URL and the raw body) so it
reaches the handler; one in four is left with the generated, wrong, signature, and Schemathesis
also sends requests without one, to see the documented 401. Every answer must be documented: its
status, content type, headers and body schema; invalid data must be refused with a 4xx.
"""

from __future__ import annotations

import contextlib
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis
from schemathesis import Case

from services.ingress.app import create_app, webhook_routes
from services.ingress.openapi import build_openapi
from services.ingress.settings import IngressSettings
from services.ingress.signature import sign
from services.simulator.serve import running
from shared.infra.processes import free_port
from tests.integration.in_thread import in_thread
from tests.integration.operator_api.conftest import WEBHOOK_KEY, stack_for
from tests.integration.schemathesis_config import EXAMPLES, config

pytestmark = [
    pytest.mark.integration,
    pytest.mark.serial,
    # aiokafka, in the stack's thread, uses `random` while Hypothesis draws examples.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

#: One request in this many keeps the generated (wrong) signature.
UNSIGNED_ONE_IN = 4


@dataclass(frozen=True)
class Served:
    base_url: str
    settings: IngressSettings


@contextlib.asynccontextmanager
async def ingress_stack(common_env: dict[str, Any]) -> AsyncIterator[Served]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    async with stack_for(common_env) as stack:
        settings = IngressSettings(
            **stack.env,
            port=port,
            public_base_url=base_url,
            hypetech_api_keys=[WEBHOOK_KEY],
            ledger_timeout_s=10.0,
        )
        async with running(create_app(settings), port=port):
            yield Served(base_url, settings)


#: What Schemathesis sends as the Hype-Hash; ``HypeHash`` replaces it with the signature. Any other
#: value (the ignored-auth check's wrong one, or none) is left as it is, to be refused with 401.
PLACEHOLDER = "sign-me"


class HypeHash(requests.auth.AuthBase):
    """Signs a prepared request as Hypetech does: the public URL (with the query) and the body."""

    def __init__(self, public_base_url: str) -> None:
        self.public_base_url = public_base_url

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        raw = body.encode() if isinstance(body, str) else body
        url = self.public_base_url + (request.path_url or "/")
        placeholder = request.headers.get("Hype-Hash") == PLACEHOLDER
        if placeholder and zlib.crc32(url.encode() + raw) % UNSIGNED_ONE_IN:
            request.headers["Hype-Hash"] = sign(WEBHOOK_KEY.encode(), url, raw)
        return request


@pytest.fixture(scope="module")
def served(common_env: dict[str, Any]) -> Iterator[Served]:
    with in_thread(lambda: ingress_stack(common_env)) as stack:
        yield stack


@pytest.fixture(scope="module")
def signing(served: Served) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.auth = HypeHash(served.settings.public_base_url)
        yield session


#: The document the ingress serves with the default paths (docs/ingress-openapi.json).
DEFAULTS = IngressSettings(environment="test", public_base_url="http://127.0.0.1:8080")
schema = schemathesis.openapi.from_dict(
    build_openapi(webhook_routes(DEFAULTS), DEFAULTS.public_base_url),
    config=config(auth={"openapi": {"HypeHash": {"api_key": PLACEHOLDER}}}),
)


#: What the generated requests were answered (status, problem type), for the last test.
ANSWERED: Counter[tuple[int, str]] = Counter()


@schema.parametrize()
def test_every_answer_is_documented(case: Case, served: Served, signing: requests.Session) -> None:
    response = case.call_and_validate(base_url=served.base_url, session=signing)

    ANSWERED[response.status_code, _problem_type(response)] += 1


def _problem_type(response: Any) -> str:
    """The problem's slug (``invalid-field``), or "" for an answer that is not a problem."""
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("type", "")).rsplit("/", 1)[-1] if isinstance(body, dict) else ""


def test_the_generated_requests_were_signed_and_reached_the_ledger() -> None:
    """Runs after the test above (same module, in order): its answers show that the signed
    requests passed the signature check and reached the ledger, and the others were refused."""
    seen = {problem for _, problem in ANSWERED}

    assert sum(ANSWERED.values()) >= 14 * EXAMPLES // 2, ANSWERED
    assert {"invalid-signature", "invalid-field", "account-not-found"} <= seen, ANSWERED
