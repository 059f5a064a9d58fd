"""A reference operator wallet for the simulator's own tests.

It is deliberately tiny and in memory: it checks ``Hype-Hash``, applies bets, wins and rollbacks
once per ``(kind, provider_tx_id)`` and answers redeliveries with the stored answer, so the
simulator's runner, sender and faults can be tested over real HTTP without the rest of hypeledger.
The real stack is driven by the simulator in ``tests/e2e``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.jsonwire import loads_exact
from shared.money import format_minor, parse_minor

API_KEY = "reference-operator-key"
KINDS = {
    "register": "bet",
    "bet": "bet",
    "rewards": "win",
    "win": "win",
    "loses": "lose",
    "rollback": "rollback",
    "balance": "balance",
}


@dataclass
class ReferenceOperator:
    base_url: str = ""
    balances: dict[tuple[str, str], int] = field(default_factory=dict)
    answers: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)
    bets: dict[str, tuple[int, str]] = field(default_factory=dict)
    """bet id -> (stake minor, state)."""
    tombstones: set[str] = field(default_factory=set)
    received: Counter[str] = field(default_factory=Counter)
    applied: Counter[str] = field(default_factory=Counter)
    bad_signatures: int = 0
    fail_first: dict[str, int] = field(default_factory=dict)
    """provider_tx_id -> how many 503s to answer before processing it."""
    seen_ids: list[tuple[str, str]] = field(default_factory=list)

    def _answer(self, status: int, body: dict[str, Any]) -> tuple[int, str]:
        return status, json.dumps(body, separators=(",", ":"))

    def decide(self, kind: str, fields: dict[str, Any]) -> tuple[int, str]:
        user, currency = str(fields["user_id"]), str(fields["currency"])
        key = (user, currency)
        if key not in self.balances:
            return self._answer(404, {"status": 404, "title": "account-not-found"})
        before = self.balances[key]
        if kind == "balance":
            text = format_minor(before, currency)
            return self._answer(200, {"user_id": user, "currency": currency, "balance": text})
        tx_id = str(fields["provider_tx_id"])
        amount = parse_minor(fields.get("amount", 0), currency).minor
        after = before
        if kind == "bet":
            if tx_id in self.tombstones:
                return self._answer(410, {"status": 410, "title": "transaction-rolled-back"})
            if fields.get("mode") != "free":
                if amount > before:
                    return self._answer(403, {"status": 403, "title": "insufficient-funds"})
                after = before - amount
            self.bets[tx_id] = (0 if fields.get("mode") == "free" else amount, "open")
        elif kind == "win":
            after = before + amount
        elif kind == "rollback":
            target = str(
                fields.get("linked_tx_id")
                or fields.get("rollback_provider_tx_id")
                or fields["provider_tx_id"]
            )
            bet = self.bets.get(target)
            if bet is None:
                self.tombstones.add(target)
            elif bet[1] == "open":
                after = before + bet[0]
                self.bets[target] = (bet[0], "rolled_back")
        self.balances[key] = after
        self.applied[kind] += 1
        return self._answer(
            200,
            {
                "operator_tx_id": f"{kind}-{tx_id}",
                "new_balance": format_minor(after, currency),
                "old_balance": format_minor(before, currency),
                "user_id": user,
                "currency": currency,
                "provider": fields.get("provider"),
                "provider_tx_id": tx_id,
            },
        )

    async def endpoint(self, request: Request) -> Response:
        raw = await request.body()
        kind = KINDS[request.url.path.rstrip("/").rsplit("/", 1)[-1]]
        url = self.base_url + request.url.path
        query = request.url.query
        expected = {
            hmac.new(API_KEY.encode(), (u + raw.decode()).encode(), hashlib.sha256).hexdigest()
            for u in (url, f"{url}?{query}" if query else url)
        }
        if request.headers.get("hype-hash") not in expected:
            self.bad_signatures += 1
            return Response('{"status":401}', status_code=401, media_type="application/json")
        fields = loads_exact(raw)
        self.received[kind] += 1
        if kind == "balance":
            status, body = self.decide(kind, fields)
            return Response(body, status_code=status, media_type="application/json")
        tx_id = str(fields["provider_tx_id"])
        self.seen_ids.append((kind, tx_id))
        if self.fail_first.get(tx_id, 0) > 0:
            self.fail_first[tx_id] -= 1
            return Response('{"status":503}', status_code=503, media_type="application/json")
        stored = self.answers.get((kind, tx_id))
        if stored is None:
            stored = self.decide(kind, fields)
            self.answers[(kind, tx_id)] = stored
        return Response(stored[1], status_code=stored[0], media_type="application/json")

    def app(self) -> Starlette:
        paths = [f"/webhooks/hypetech/{name}" for name in KINDS]
        return Starlette(routes=[Route(p, self.endpoint, methods=["GET", "POST"]) for p in paths])
