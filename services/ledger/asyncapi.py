"""The ledger's message contract as a FastStream app, for ``faststream docs gen`` (AsyncAPI 3.0).

The running ledger uses aiokafka directly (see docs/ledger.md for why); this app only declares
what the ledger consumes and publishes, with the same pydantic models, so the AsyncAPI document is
generated from the contract code and a test keeps ``docs/asyncapi.yaml`` current:

    faststream docs gen --yaml --factory services.ledger.asyncapi:asyncapi_app -o docs/asyncapi.yaml
"""

from __future__ import annotations

from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from shared.contracts.commands import LedgerReply, OperatorCommand, WebhookEnvelope
from shared.contracts.events import TransactionEvent
from shared.contracts.protection import ProtectionEvent
from shared.contracts.topics import COMMANDS, COMMANDS_DLQ, REPLY_PREFIX, TRANSACTIONS

TITLE = "hypeledger ledger"
VERSION = "1.0.0"


def asyncapi_app() -> FastStream:
    """Build the (never started) contract app; only its specification is used."""
    broker = KafkaBroker("kafka:9092", description="The operator's Kafka cluster.")

    broker.publisher(
        TRANSACTIONS,
        title=f"{TRANSACTIONS}:publish",
        description=(
            "One event per applied decision (event_type wallet.transaction), and player "
            "protection's events (event_type wallet.protection: limit changes, exclusions, "
            "refusals by a limit or an exclusion, 80 % and 100 % crossings), published by the "
            "outbox relay at least once, in order per key (user_id); dedupe on event_id (also "
            "sent as the event_id header)."
        ),
        schema=TransactionEvent | ProtectionEvent,
    )
    broker.publisher(
        COMMANDS_DLQ,
        title=f"{COMMANDS_DLQ}:publish",
        description="Commands that could not be decoded, unchanged, with a dlq_reason header.",
        schema=bytes,
    )
    broker.publisher(
        f"{REPLY_PREFIX}{{instance_id}}",
        title="wallet.replies.v1:publish",
        description=(
            "The ledger's answer to each command, sent to the command's reply_to topic after the "
            "database commit, with the command's correlation_id header."
        ),
        schema=LedgerReply,
    )

    @broker.subscriber(
        COMMANDS,
        group_id="hypeledger-ledger",
        title=f"{COMMANDS}:consume",
        description=(
            "Webhook envelopes (normalised by the ingress) and operator commands, keyed by "
            "user_id; headers correlation_id and reply_to. Applied exactly once per "
            "idempotency key."
        ),
    )
    async def wallet_command(command: WebhookEnvelope | OperatorCommand) -> None:
        """Declared for the specification; the ledger consumer applies commands."""
        del command

    return FastStream(broker, specification=AsyncAPI(title=TITLE, version=VERSION))
