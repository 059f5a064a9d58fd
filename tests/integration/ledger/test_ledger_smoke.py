"""The smallest round trip: a bet through the broker, answered after the commit."""

from __future__ import annotations

from ledger_harness import Ledger, unique, webhook

from shared.contracts.commands import WebhookKind


async def test_debits_a_bet_published_to_the_broker(ledger: Ledger) -> None:
    user = await ledger.player("100.00")

    reply = await ledger.send(webhook(WebhookKind.BET, user, unique("b"), "10.00"))

    assert reply.status == 200
    assert reply.json["new_balance"] == "90.00"
    assert await ledger.balance(user) == 90_00
