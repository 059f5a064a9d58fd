"""Thousands of hostile requests against the operator API on the real stack: no 5xx, no money moved.

Every route, with hostile path segments (slashes, dot segments, decomposed and bidirectional
text, control characters, over-long ids), hostile query strings, headers and bodies (broken JSON,
wrong types, amounts that are not ASCII decimal text or not positive or too fine), without a token,
with a wrong one and with the right one; money movements aimed at a funded player carry only
amounts that must be refused, and unauthenticated ones carry valid amounts that must not pass.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.money import InvalidAmount, parse_minor
from tests.fuzzing import fuzz_settings
from tests.integration.operator_api.conftest import TOKEN, Stack

pytestmark = [
    pytest.mark.integration,
    # aiokafka and the simulator, in the served stack, use `random` while Hypothesis draws.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

EXAMPLES = 3_000
MONEY = """
SELECT (SELECT count(*) FROM postings) AS postings,
       (SELECT coalesce(sum(balance), 0) FROM accounts) AS balances
"""

HOSTILE_TEXT = st.sampled_from(
    [
        "x/y", "..", ".", "e\u0301", "jos\u00e9", "a\u202eb", "a\u2066b", "a\u200bb", "\ufeff",
        "a\x00b", "a\nb", " pad", "pad ", "\u00a0", "x" * 201, "x" * 5000, "%2F", "%00", "?",
        "#", "\\", "'; DROP TABLE accounts; --", "${jndi:ldap://x}", "\ud800", "\U0010ffff",
        "BRL", "brl", "B R", "\uff22RL", "USDT", "", " ",
    ]
)  # fmt: skip
SEGMENTS = st.one_of(HOSTILE_TEXT, st.text(max_size=60), st.text(max_size=300))


def _valid_brl(value: object) -> bool:
    """True for what the API would take as a positive BRL amount (never sent with a token)."""
    try:
        return parse_minor(value, "BRL").minor > 0
    except InvalidAmount:
        return False


REFUSED_AMOUNTS = st.one_of(
    st.sampled_from(
        [
            "\uff11\uff10", "1_000", " 5 ", "5 ", "\u0661\u0660", "10\n", "", "1e", "0", "-5",
            "0.001", "NaN", "Infinity", "1e400", "0x10", "1,50", True, False, None, [], {},
            "1" * 70, -1, 0,
        ]
    ),
    st.text(max_size=20),
    st.integers(max_value=0),
    st.decimals(allow_nan=False, allow_infinity=False, places=5).map(str),
).filter(lambda value: not _valid_brl(value))  # fmt: skip

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
RAW_BODIES = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [b"", b"[]", b"null", b"42", b'"s"', b"{", b'{"a":1', b"\xff\xfe", b"[" * 300 + b"]" * 300,
         b'{"amount":' * 100 + b"1" + b"}" * 100, b'{"amount":"1"' + b" " * 70_000 + b"}"]
    ),
)  # fmt: skip


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _quoted(text: str) -> str:
    """``text`` as one percent-encoded path segment (unpaired surrogates as their raw bytes)."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def _segment(draw: st.DrawFn, funded: str) -> str:
    return _quoted(draw(st.one_of(SEGMENTS, st.just(funded))))


def _body(draw: st.DrawFn, fields: dict[str, Any]) -> bytes:
    shape = draw(st.sampled_from(["fields", "fields", "raw", "json"]))
    if shape == "raw":
        return draw(RAW_BODIES)
    if shape == "json":
        return json.dumps(draw(JSON_VALUES)).encode()
    extra = draw(st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=2))
    return json.dumps({**fields, **extra}, ensure_ascii=False).encode("utf-8", "surrogatepass")


@st.composite
def hostile_requests(draw: st.DrawFn, funded: str) -> Request:
    user = _segment(draw, funded)
    currency = _quoted(draw(st.one_of(st.just("BRL"), HOSTILE_TEXT, st.text(max_size=10))))
    account = f"/accounts/{user}/{currency}"
    key = draw(st.one_of(st.none(), st.text(max_size=250), HOSTILE_TEXT))
    headers = {} if key is None else {"Idempotency-Key": key}
    query = draw(
        st.dictionaries(
            st.sampled_from(["limit", "cursor", "kind", "round_id", "session_token", "since",
                             "until", "status", "class", "session_id", "user_id"]),
            st.one_of(HOSTILE_TEXT, st.text(max_size=40)),
            max_size=3,
        )
    )  # fmt: skip
    amount = draw(REFUSED_AMOUNTS)
    route = draw(st.integers(min_value=0, max_value=13))
    match route:
        case 0:
            body = _body(draw, {"user_id": draw(SEGMENTS), "currency": draw(HOSTILE_TEXT)})
            return Request("POST", "/accounts", body=body, headers=headers)
        case 1:
            return Request("GET", f"/players/{user}/accounts", query)
        case 2 | 3:
            tail = draw(
                st.sampled_from(["", "/balance", "/transactions", "/postings", "/free-bets"])
            )
            return Request("GET", account + tail, query)
        case 4 | 5 | 6:
            segment = draw(st.sampled_from(["deposits", "withdrawals"]))
            body = _body(draw, {"amount": amount, "reason": draw(st.text(max_size=30))})
            return Request("POST", f"{account}/{segment}", body=body, headers=headers)
        case 7:
            action = draw(st.sampled_from(["block", "unblock"]))
            return Request("POST", f"{account}/{action}", body=_body(draw, {}), headers=headers)
        case 8:
            launch = {"user_id": draw(SEGMENTS), "game": draw(SEGMENTS), "username": "u"}
            return Request("POST", "/sessions", body=_body(draw, launch))
        case 9:
            grant = {"user_id": funded, "currency": "BRL", "game": "aviador", "quantity": 1,
                     "value": amount, "expires_at": draw(st.text(max_size=30))}  # fmt: skip
            return Request("POST", "/free-bets", body=_body(draw, grant), headers=headers)
        case 10:
            return Request("GET", "/findings", query)
        case 11:
            finding = _quoted(draw(st.one_of(st.text(max_size=25), HOSTILE_TEXT)))
            return Request("GET", f"/findings/{finding}")
        case 12:
            finding = _quoted(draw(st.one_of(st.text(max_size=25), HOSTILE_TEXT)))
            body = _body(draw, {"status": draw(st.text(max_size=10)), "changed_by": "fuzz"})
            return Request("POST", f"/findings/{finding}/status", body=body)
        case _:
            method = draw(st.sampled_from(["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]))
            return Request(method, account + "/deposits", body=draw(RAW_BODIES))


@st.composite
def unauthenticated_deposits(draw: st.DrawFn, funded: str) -> tuple[Request, dict[str, str]]:
    """A deposit that would move money with the right token, sent without it or with another."""
    auth = draw(st.sampled_from([{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}]))
    request = Request(
        "POST",
        f"/accounts/{funded}/BRL/deposits",
        body=b'{"amount":"10.00"}',
        headers={"Idempotency-Key": draw(st.text(min_size=1, max_size=20).map(str.strip)) or "k"},
    )
    return request, auth


def send_hostile_requests(base_url: str, funded: str, examples: int) -> list[int]:
    statuses: list[int] = []
    authenticated = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=base_url, timeout=30) as http:

        @fuzz_settings(examples)
        @given(
            request=hostile_requests(funded),
            unauthenticated=st.one_of(st.none(), unauthenticated_deposits(funded)),
        )
        def check(request: Request, unauthenticated: tuple[Request, dict[str, str]] | None) -> None:
            sent, auth = (request, authenticated) if unauthenticated is None else unauthenticated
            query = "&".join(f"{name}={_quoted(value)}" for name, value in sent.query.items())
            url = sent.path + (f"?{query}" if query else "")
            headers = {
                name: value.encode("utf-8", "surrogatepass")
                for name, value in {
                    "Content-Type": "application/json",
                    **sent.headers,
                    **auth,
                }.items()
            }
            try:
                response = http.request(sent.method, url, content=sent.body, headers=headers)
            except (httpx.InvalidURL, httpx.LocalProtocolError, UnicodeEncodeError):
                return  # the client itself refuses to send it (a header or URL no server sees)
            statuses.append(response.status_code)
            assert response.status_code < 500, (sent, response.text)

        check()
    return statuses


async def test_thousands_of_hostile_requests_move_no_money_and_never_fail(
    stack: Stack, db_pool: asyncpg.Pool
) -> None:
    funded = await stack.funded(amount="100.00")
    before = dict(await db_pool.fetchrow(MONEY))

    statuses = await asyncio.to_thread(send_hostile_requests, stack.api_url, funded, EXAMPLES)

    assert len(statuses) >= EXAMPLES * 0.9
    assert {400, 401, 404} <= set(statuses)
    assert dict(await db_pool.fetchrow(MONEY)) == before
    balance = await stack.api.get(f"/accounts/{funded}/BRL/balance")
    assert balance.json()["balance"] == "100.00"
