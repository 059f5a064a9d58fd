"""The reconciler's tap of the command topic stores only webhooks a producer signed."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from services.reconciler.tap import CommandTap
from shared import kafka
from shared.command_auth import Signer, command_headers
from shared.contracts.commands import WebhookKind
from shared.contracts.topics import COMMANDS
from shared.kafka import ensure_topics
from shared.settings import ReconcilerSettings
from tests.integration.ledger.ledger_harness import eventually, unique, webhook

pytestmark = pytest.mark.integration


async def test_the_tap_stores_a_signed_webhook_and_refuses_unsigned_and_forged_ones(
    common_env: dict[str, Any], db_pool: asyncpg.Pool
) -> None:
    settings = ReconcilerSettings(**common_env, topic_prefix=f"t{uuid.uuid4().hex[:8]}.")
    await ensure_topics(settings, {COMMANDS: 1})
    user = unique("p")
    signed, unsigned, forged = (webhook(WebhookKind.BET, user, unique("b")) for _ in range(3))
    producer = kafka.producer(settings)
    await producer.start()
    try:
        for command, signer in (
            (signed, settings.command_signer()),  # the development key, as the ingress's here
            (unsigned, None),
            (forged, Signer("development", b"not-the-development-key-0123456789")),
        ):
            value, key = command.model_dump_json().encode(), user.encode()
            headers = (
                []
                if signer is None
                else command_headers(
                    signer, key=key, correlation_id=b"c", reply_to=b"r", value=value
                )
            )
            await producer.send_and_wait(settings.topic(COMMANDS), value, key=key, headers=headers)
    finally:
        await producer.stop()
    tap = CommandTap(settings, db_pool, settings.tap_verifier())
    await tap.start()

    try:

        async def read_all() -> bool:
            await tap.poll_once()
            return tap.stored + tap.refused >= 3

        await eventually(read_all)
    finally:
        await tap.stop()

    stored = await db_pool.fetch(
        "SELECT provider_tx_id FROM reconciler_webhooks WHERE user_id = $1", user
    )
    assert [row["provider_tx_id"] for row in stored] == [signed.provider_tx_id]
    assert (tap.stored, tap.refused) == (1, 2)
