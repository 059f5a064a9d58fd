"""How a webhook looks on the wire in each of Hypetech's doc generations, and its signature.

Pure: an event in, the method, full URL, exact body text and ``Hype-Hash`` out.

* V1: legacy paths, ``action_id`` for the round, ``platform``, rollbacks name their target in
  ``rollback_provider_tx_id``; lose webhooks exist.
* V2: legacy paths, ``round_id``, ``mode``, ``count_register`` (as a string); a rollback reuses the
  bet's ``provider_tx_id``; lose webhooks exist.
* V3: like V2 but sent with GET, the fields in the query string and in a JSON body; wins carry
  ``mode`` and ``count_register``; no lose webhook.
* V4: POST to the operator's configured paths; wins and rollbacks carry ``provider_tx_id`` and
  ``linked_tx_id`` as JSON numbers, wins spell ``agreggator``; no lose webhook.

``Hype-Hash`` is the lower-case hex HMAC-SHA256, keyed with the operator's API key, of the full
webhook URL directly followed by the exact body text sent (which equals ``JSON.stringify`` of it).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from shared.contracts.commands import Generation, WebhookKind
from shared.hypetech.jsstringify import js_stringify, number_to_string

LEGACY_PATHS: dict[WebhookKind, str] = {
    WebhookKind.BET: "/webhooks/hypetech/register",
    WebhookKind.WIN: "/webhooks/hypetech/rewards",
    WebhookKind.LOSE: "/webhooks/hypetech/loses",
    WebhookKind.ROLLBACK: "/webhooks/hypetech/rollback",
    WebhookKind.BALANCE: "/webhooks/hypetech/balance",
}


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    kind: WebhookKind
    user_id: str
    currency: str
    session_token: str
    game: str
    provider: str
    tx_id: str | None = None
    amount: Decimal | None = None
    round_id: str | None = None
    mode: str = "default"
    count_register: int = 1
    linked_tx_id: str | None = None
    bonus_code: str | None = None
    extra_data: str | None = None


@dataclass(frozen=True, slots=True)
class RenderedWebhook:
    kind: WebhookKind
    method: str
    url: str
    """The full URL requested (with the query string for V3)."""
    body: str
    signature: str
    signed_url: str


def supports(generation: Generation, kind: WebhookKind) -> bool:
    if kind is WebhookKind.LOSE:
        return generation in (Generation.V1, Generation.V2)
    if kind is WebhookKind.BALANCE:
        return generation in (Generation.V3, Generation.V4)
    return True


def sign(url: str, body: str, api_key: str) -> str:
    return hmac.new(api_key.encode(), (url + body).encode(), hashlib.sha256).hexdigest()


def _number_id(tx_id: str) -> Decimal | int | str:
    return int(tx_id) if tx_id.isdigit() else tx_id


def render_fields(event: WebhookEvent, generation: Generation) -> dict[str, Any]:
    """The body fields, in the order the docs list them."""
    kind = event.kind
    if kind is WebhookKind.BALANCE:
        if generation is Generation.V4:
            return {
                "user_id": event.user_id,
                "currency": event.currency,
                "session_token": event.session_token,
            }
        kind = WebhookKind.BET  # V3's balance body is the bet schema
    body: dict[str, Any] = {"user_id": event.user_id, "currency": event.currency}
    body["amount"] = event.amount
    body["provider"] = event.provider
    tx_id: Any = event.tx_id
    linked: Any = event.linked_tx_id
    if generation is Generation.V4 and kind in (WebhookKind.WIN, WebhookKind.ROLLBACK):
        tx_id = None if tx_id is None else _number_id(tx_id)
        linked = None if linked is None else _number_id(linked)
    body["provider_tx_id"] = tx_id
    if generation is Generation.V1 and kind is WebhookKind.ROLLBACK:
        body["rollback_provider_tx_id"] = event.linked_tx_id
    body["game"] = event.game
    if not (generation is Generation.V1 and kind is WebhookKind.ROLLBACK):
        body["action"] = kind.value if event.kind is not WebhookKind.BALANCE else "balance"
    if generation is Generation.V1:
        body["action_id"] = event.round_id
    else:
        body["round_id"] = event.round_id
    modes = {
        Generation.V2: (WebhookKind.BET,),
        Generation.V3: (WebhookKind.BET, WebhookKind.WIN),
        Generation.V4: (WebhookKind.BET, WebhookKind.WIN),
    }
    if kind in modes.get(generation, ()):
        body["mode"] = event.mode
        count = event.count_register
        body["count_register"] = str(count) if kind is WebhookKind.BET else count
    body["session_token"] = event.session_token
    if generation is Generation.V1 and kind is WebhookKind.BET:
        body["platform"] = "desktop"
    if generation is Generation.V4:
        if kind is WebhookKind.WIN:
            body["linked_tx_id"] = linked
            body["agreggator"] = "hypetech"
        if kind is WebhookKind.ROLLBACK:
            body["linked_tx_id"] = linked
            body["aggregator"] = "hypetech"
        if event.bonus_code is not None and kind in (WebhookKind.BET, WebhookKind.WIN):
            body["bonus_code"] = event.bonus_code
        if event.extra_data is not None and kind in (WebhookKind.BET, WebhookKind.ROLLBACK):
            body["extra_data"] = event.extra_data
    return {key: value for key, value in body.items() if value is not None}


def _query_value(value: Any) -> str:
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        return number_to_string(value)
    return str(value)


def render(
    event: WebhookEvent,
    generation: Generation,
    *,
    base_url: str,
    paths: dict[WebhookKind, str],
    api_key: str,
    sign_query_string: bool = True,
) -> RenderedWebhook:
    """The request Hypetech sends for ``event`` in ``generation``. ``paths`` are the V4 paths."""
    fields = render_fields(event, generation)
    body = js_stringify(fields)
    path = paths[event.kind] if generation is Generation.V4 else LEGACY_PATHS[event.kind]
    url = base_url.rstrip("/") + path
    method = "POST"
    signed_url = url
    if generation is Generation.V3:
        method = "GET"
        query = urlencode(
            [(key, _query_value(value)) for key, value in fields.items() if value is not None]
        )
        url = f"{url}?{query}"
        if sign_query_string:
            signed_url = url
    return RenderedWebhook(
        event.kind, method, url, body, sign(signed_url, body, api_key), signed_url
    )
