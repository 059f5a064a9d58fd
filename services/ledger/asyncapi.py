"""hypeledger's message contract as a FastStream app, and the AsyncAPI 3.0 document made from it.

The running ledger uses aiokafka directly (see docs/ledger.md for why); this app only declares
what is consumed and published, with the same pydantic models. ``document()`` takes FastStream's
specification and states what FastStream cannot: the public events' CloudEvents headers and record
key, as ``shared/contracts/cloudevents.py`` defines them for the relay and the reconciler, and
payload schemas open to additions (the compatibility policy, docs/events.md). A test keeps
``docs/asyncapi.yaml`` equal to it; regenerate with

    python -m services.ledger.asyncapi > docs/asyncapi.yaml
"""

from __future__ import annotations

import sys
from typing import Any

from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from shared.contracts.chain import ChainHeadsEvent
from shared.contracts.cloudevents import CONTENT_TYPE, FINDING_EVENTS, TRANSACTION_EVENTS
from shared.contracts.commands import LedgerReply, OperatorCommand, WebhookEnvelope
from shared.contracts.compatibility import open_to_additions
from shared.contracts.events import TransactionEvent
from shared.contracts.protection import ProtectionEvent
from shared.contracts.reconciliation import ReconciliationFinding
from shared.contracts.topics import (
    COMMANDS,
    COMMANDS_DLQ,
    RECONCILIATION,
    REPLY_PREFIX,
    TRANSACTIONS,
)

TITLE = "hypeledger events"
VERSION = "1.2.0"
#: The public topics: what each key is, and the payload model.
PUBLIC_KEYS = {
    TRANSACTION_EVENTS: ("user_id", "the player's user_id: one player's events are in order"),
    FINDING_EVENTS: ("session_id", "the Hypetech session the finding belongs to"),
}


def asyncapi_app() -> FastStream:
    """Build the (never started) contract app; only its specification is used."""
    broker = KafkaBroker("kafka:9092", description="The operator's Kafka cluster.")

    broker.publisher(
        TRANSACTIONS,
        title=f"{TRANSACTIONS}:publish",
        description=(
            "One event per applied decision (event_type wallet.transaction), and player "
            "protection's events (event_type wallet.protection: limit changes, exclusions, "
            "refusals by a limit or an exclusion, 80 % and 100 % crossings), and once a day the "
            "day's hash chain heads (event_type wallet.chain_heads, key chain-heads), published by the "
            "outbox relay at least once, in order per key (user_id), as a CloudEvent in binary "
            "mode; dedupe on ce_id (the payload's event_id, also sent as the event_id header)."
        ),
        schema=TransactionEvent | ProtectionEvent | ChainHeadsEvent,
    )
    broker.publisher(
        RECONCILIATION,
        title=f"{RECONCILIATION}:publish",
        description=(
            "Each new or changed reconciliation finding, published by the reconciler at least "
            "once, keyed by session id, as a CloudEvent in binary mode; dedupe on ce_id "
            "(finding id and version)."
        ),
        schema=ReconciliationFinding,
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


def document() -> dict[str, Any]:
    """The AsyncAPI document: FastStream's, with the public events' headers, keys and policy."""
    spec: dict[str, Any] = asyncapi_app().schema.to_specification().to_jsonable()
    messages = spec["components"]["messages"]
    for events, (key, meaning) in PUBLIC_KEYS.items():
        message = messages[f"{events.topic}:publish:Message"]
        message.pop("correlationId", None)  # the public events carry none
        message["contentType"] = CONTENT_TYPE
        message["headers"] = events.headers_schema()
        message["bindings"] = {
            "kafka": {
                "key": {"type": "string", "description": f"{key}: {meaning}"},
                "bindingVersion": "0.4.0",
            }
        }
    for model in (TransactionEvent, ProtectionEvent, ChainHeadsEvent, ReconciliationFinding):
        open_to_additions(spec["components"]["schemas"][model.__name__])
    # FastStream's order changes from run to run; sorted, the committed file changes only with
    # the contract.
    for holder, name in (
        (spec, "channels"),
        (spec, "operations"),
        (spec["components"], "messages"),
        (spec["components"], "schemas"),
    ):
        holder[name] = dict(sorted(holder[name].items()))
    return spec


def main() -> None:
    """Write the document as committed in docs/asyncapi.yaml (PyYAML: a development tool)."""
    import yaml  # type: ignore[import-untyped]  # noqa: PLC0415 - PyYAML ships no type stubs

    sys.stdout.write(yaml.safe_dump(document(), sort_keys=False, allow_unicode=True, width=100))


if __name__ == "__main__":
    main()
