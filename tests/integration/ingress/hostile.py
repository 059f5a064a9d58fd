"""Hostile webhook requests for fuzzing the ingress, as Hypothesis strategies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
from hypothesis import given
from hypothesis import strategies as st

from services.ingress.settings import IngressSettings
from services.ingress.signature import sign
from tests.fuzzing import fuzz_settings
from tests.integration.ingress.served import API_KEY

MAX_BODY = 4096
PATHS = [
    "/webhooks/hypetech/register", "/webhooks/hypetech/rewards", "/webhooks/hypetech/loses",
    "/webhooks/hypetech/rollback", "/webhooks/hypetech/balance", "/webhooks/hypetech/bet",
    "/webhooks/hypetech/win",
]  # fmt: skip
FIELDS = [
    "user_id", "currency", "amount", "provider", "provider_tx_id", "game", "action", "round_id",
    "action_id", "mode", "count_register", "session_token", "platform", "bonus_code",
    "extra_data", "linked_tx_id", "rollback_provider_tx_id", "agreggator", "aggregator",
]  # fmt: skip
VALID: dict[str, str] = {
    "user_id": '"26"', "currency": '"USD"', "amount": "200", "provider": '"hypetech"',
    "provider_tx_id": '"559"', "game": '"aviador"', "action": '"bet"', "round_id": '"255"',
    "mode": '"default"', "count_register": '"1"',
    "session_token": '"b72afc947ed1809d9a993d378733cfea"',
}  # fmt: skip

# Raw JSON fragments, hostile ones included (the body is assembled as text, not serialised).
HOSTILE_FRAGMENTS = st.one_of(
    st.sampled_from([
        "NaN", "Infinity", "-Infinity", "1e400", "-1e400", "9" * 400, "-0", "0", "-1",
        "0.000000001", "10.299999999999999", "1.005", "true", "false", "null", "[]", "{}",
        '""', '" "', '"NaN"', '"1e400"', '"-5"', '"0x10"', '"\\u0000"', '"\\ud800"',
        "[" * 200 + "]" * 200, '{"a":' * 60 + "1" + "}" * 60, '"' + "x" * 3000 + '"',
        "12345678901234567890123456789012345678901234567890", "1E+999999999",
    ]),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=6).map(str),
    st.text(max_size=40).map(json.dumps),
    st.lists(st.integers(), max_size=3).map(json.dumps),
)  # fmt: skip


@dataclass(frozen=True)
class Hostile:
    method: str
    path: str
    query: str
    body: bytes
    signature: str  # "good", "missing", "wrong", "other-url"


@st.composite
def field_bodies(draw: st.DrawFn) -> bytes:
    """A webhook-like JSON object: valid fields with some replaced, dropped or added."""
    fields = dict(VALID)
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=4, unique=True)):
        if draw(st.booleans()):
            fields[name] = draw(HOSTILE_FRAGMENTS)
        else:
            fields.pop(name, None)
    text = "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in fields.items()) + "}"
    return text.encode("utf-8", "surrogatepass")


BODIES = st.one_of(
    field_bodies(),
    field_bodies(),
    st.binary(max_size=200),
    st.just(b'{"pad":"' + b"x" * (MAX_BODY + 10) + b'"}'),
    st.sampled_from([b"", b"[]", b"null", b"42", b'"s"', b"{", b'{"a":1', b"\xff\xfe\xfd"]),
    field_bodies().map(lambda body: body[: len(body) // 2]),
)


@st.composite
def hostile_requests(draw: st.DrawFn) -> Hostile:
    pairs = draw(st.lists(st.tuples(st.sampled_from(FIELDS), st.text(max_size=12)), max_size=3))
    return Hostile(
        method=draw(st.sampled_from(["GET", "POST"])),
        path=draw(st.sampled_from(PATHS)),
        query=urlencode(pairs),
        body=draw(BODIES),
        signature=draw(st.sampled_from(["good", "good", "good", "missing", "wrong", "other-url"])),
    )


def headers_for(request: Hostile, settings: IngressSettings) -> dict[str, str]:
    url = settings.public_base_url + request.path
    if request.signature == "other-url":
        url += "/elsewhere"
    elif request.query:
        url += "?" + request.query
    key = API_KEY.encode() + (b"!" if request.signature == "wrong" else b"")
    if request.signature == "missing":
        return {}
    return {"Hype-Hash": sign(key, url, request.body)}


def send_hostile_requests(
    base_url: str, settings_: IngressSettings, examples: int
) -> list[tuple[Hostile, int]]:
    """Send ``examples`` generated requests; fail on the first 5xx; return what was answered."""
    answered: list[tuple[Hostile, int]] = []
    with httpx.Client(base_url=base_url, timeout=10) as http:

        @fuzz_settings(examples)
        @given(request=hostile_requests())
        def check(request: Hostile) -> None:
            response = http.request(
                request.method,
                request.path + (f"?{request.query}" if request.query else ""),
                content=request.body,
                headers=headers_for(request, settings_),
            )
            answered.append((request, response.status_code))
            assert response.status_code < 500, (request, response.text)

        check()
    return answered
