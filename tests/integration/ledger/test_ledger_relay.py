"""The outbox relay publishes what the ledger applied, in order per player, with stable ids."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import jsonschema
from aiokafka import AIOKafkaConsumer
from ledger_harness import Ledger, eventually, unique, webhook

from shared.contracts.commands import WebhookKind
from shared.contracts.events import TransactionEvent
from shared.contracts.topics import TRANSACTIONS
from shared.kafka import consumer as kafka_consumer

SCHEMA = json.loads(
    (
        Path(__file__).resolve().parents[3] / "shared/contracts/schemas/transaction_event.v1.json"
    ).read_text()
)


async def events_of(
    ledger: Ledger, user: str, expected: int
) -> list[tuple[dict[str, object], bytes]]:
    """Read the transactions topic from the start until ``expected`` events of ``user`` arrived."""
    reader: AIOKafkaConsumer = kafka_consumer(
        ledger.settings, ledger.settings.topic(TRANSACTIONS), group_id=None
    )
    await reader.start()
    found: list[tuple[dict[str, object], bytes]] = []
    try:
        async with asyncio.timeout(20):
            while len(found) < expected:
                batches = await reader.getmany(timeout_ms=200)
                for records in batches.values():
                    for record in records:
                        if record.key == user.encode():
                            headers = dict(record.headers or ())
                            found.append((json.loads(record.value or b""), headers["event_id"]))
    finally:
        await reader.stop()
    return found


async def test_publishes_every_applied_decision_in_order_per_player(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    bets = [unique("b") for _ in range(3)]
    for tx in bets:
        await ledger.send(webhook(WebhookKind.BET, user, tx, "1.00"))

    events = await events_of(ledger, user, expected=5)

    kinds = [(event["kind"], event["provider_tx_id"]) for event, _ in events]
    assert kinds[2:] == [("bet", tx) for tx in bets]
    assert [event["new_balance"] for event, _ in events][2:] == ["99.00", "98.00", "97.00"]


async def test_publishes_events_that_satisfy_the_committed_json_schema(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    await ledger.send(webhook(WebhookKind.BET, user, unique("b"), "2.50"))

    events = await events_of(ledger, user, expected=3)

    for event, event_id in events:
        jsonschema.validate(event, SCHEMA)
        TransactionEvent.model_validate(event)
        assert event["event_id"] == event_id.decode()


async def test_marks_published_rows_in_the_outbox(ledger: Ledger) -> None:
    user = await ledger.player("100.00")
    await events_of(ledger, user, expected=2)

    async def all_published() -> bool:
        pending = await ledger.count(
            "SELECT count(*) FROM outbox WHERE message_key = $1 AND published_at IS NULL", user
        )
        return pending == 0

    await eventually(all_published)

    assert await ledger.count("SELECT count(*) FROM outbox WHERE message_key = $1", user) == 2
