"""Each doc generation's webhook on the wire, and its Hype-Hash checked with Node.js."""

from __future__ import annotations

import json
import shutil
import subprocess
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import pytest

from services.simulator.webhooks import LEGACY_PATHS, WebhookEvent, render, sign
from shared.contracts.commands import Generation, WebhookKind
from shared.jsonwire import loads_exact

BASE = "http://127.0.0.1:8080"
KEY = "operator-api-key"
V4_PATHS = {
    WebhookKind.BET: "/hooks/bet",
    WebhookKind.WIN: "/hooks/win",
    WebhookKind.LOSE: "/hooks/win",
    WebhookKind.ROLLBACK: "/hooks/rollback",
    WebhookKind.BALANCE: "/hooks/balance",
}


def event(kind: WebhookKind, **changes: object) -> WebhookEvent:
    values: dict[str, object] = {
        "kind": kind,
        "user_id": "26",
        "currency": "USD",
        "session_token": "b72afc947ed1809d9a993d378733cfea",
        "game": "aviador",
        "provider": "hypetech",
        "tx_id": "559",
        "amount": Decimal("200.00"),
        "round_id": "255",
    }
    values.update(changes)
    return WebhookEvent(**values)  # type: ignore[arg-type]


def fields(kind: WebhookKind, generation: Generation, **changes: object) -> dict[str, object]:
    rendered = render(
        event(kind, **changes), generation, base_url=BASE, paths=V4_PATHS, api_key=KEY
    )
    parsed: dict[str, object] = loads_exact(rendered.body)
    return parsed


def test_v1_names_the_round_action_id_and_sends_the_platform() -> None:
    body = fields(WebhookKind.BET, Generation.V1)

    assert (body["action_id"], body["platform"]) == ("255", "desktop")
    assert "round_id" not in body


def test_v1_rollback_names_its_target_in_rollback_provider_tx_id() -> None:
    body = fields(WebhookKind.ROLLBACK, Generation.V1, tx_id="651", linked_tx_id="559")

    assert (body["provider_tx_id"], body["rollback_provider_tx_id"]) == ("651", "559")


def test_v2_sends_mode_and_count_register_as_a_string_on_bets() -> None:
    body = fields(WebhookKind.BET, Generation.V2, count_register=2)

    assert (body["round_id"], body["mode"], body["count_register"]) == ("255", "default", "2")


def test_amounts_are_json_numbers_written_as_javascript_does() -> None:
    rendered = render(
        event(WebhookKind.BET), Generation.V2, base_url=BASE, paths=V4_PATHS, api_key=KEY
    )

    assert '"amount":200,' in rendered.body


def test_v3_is_a_get_with_every_field_in_the_query_string_too() -> None:
    rendered = render(
        event(WebhookKind.BET), Generation.V3, base_url=BASE, paths=V4_PATHS, api_key=KEY
    )

    query = dict(parse_qsl(urlsplit(rendered.url).query))
    assert rendered.method == "GET"
    assert urlsplit(rendered.url).path == LEGACY_PATHS[WebhookKind.BET]
    assert query["provider_tx_id"] == "559"
    assert query["amount"] == "200"


def test_v4_posts_to_the_configured_paths() -> None:
    rendered = render(
        event(WebhookKind.WIN), Generation.V4, base_url=BASE, paths=V4_PATHS, api_key=KEY
    )

    assert (rendered.method, rendered.url) == ("POST", BASE + "/hooks/win")


def test_v4_win_sends_its_ids_as_numbers_and_links_its_bet() -> None:
    body = fields(WebhookKind.WIN, Generation.V4, tx_id="560", linked_tx_id="559")

    assert (body["provider_tx_id"], body["linked_tx_id"]) == (560, 559)
    assert "agreggator" in body


def test_v4_balance_asks_only_for_user_currency_and_session() -> None:
    body = fields(WebhookKind.BALANCE, Generation.V4, tx_id=None, amount=None, round_id=None)

    assert set(body) == {"user_id", "currency", "session_token"}


def test_the_signature_is_the_hmac_of_the_url_followed_by_the_body() -> None:
    rendered = render(
        event(WebhookKind.BET), Generation.V4, base_url=BASE, paths=V4_PATHS, api_key=KEY
    )

    assert rendered.signature == sign(BASE + "/hooks/bet", rendered.body, KEY)


def test_v3_signs_the_full_url_with_its_query_string() -> None:
    rendered = render(
        event(WebhookKind.BET), Generation.V3, base_url=BASE, paths=V4_PATHS, api_key=KEY
    )

    assert rendered.signature == sign(rendered.url, rendered.body, KEY)


@pytest.mark.parametrize("generation", list(Generation))
def test_node_computes_the_same_hype_hash_as_the_docs_describe(generation: Generation) -> None:
    node = shutil.which("node")
    assert node is not None, "Node.js is needed to check signatures as Hypetech's docs do"
    rendered = render(
        event(WebhookKind.WIN, amount=Decimal("10.50"), linked_tx_id="558"),
        generation,
        base_url=BASE,
        paths=V4_PATHS,
        api_key=KEY,
    )
    script = (
        "const crypto = require('crypto');"
        "const [url, raw, key] = process.argv.slice(1);"
        "const body = JSON.parse(raw);"
        "const hmac = crypto.createHmac('sha256', key);"
        "const hash = hmac.update(url + JSON.stringify(body)).digest('hex');"
        "console.log(JSON.stringify({hash, same: JSON.stringify(body) === raw}));"
    )

    out = subprocess.run(
        [node, "-e", script, rendered.signed_url, rendered.body, KEY],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )

    assert json.loads(out.stdout) == {"hash": rendered.signature, "same": True}
