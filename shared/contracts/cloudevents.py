"""CloudEvents 1.0 on the public topics, in the Kafka protocol binding's binary mode.

Every event on ``wallet.transactions.v1`` and ``wallet.reconciliation.v1`` carries its CloudEvents
attributes as ``ce_``-prefixed headers and the JSON payload as the record value, with a
``content-type`` header, so a CloudEvents SDK reads it without a custom deserialiser:

* ``ce_specversion`` ``1.0``;
* ``ce_id``: the event's stable ``event_id`` (the same on every re-publication, so ``ce_source``
  plus ``ce_id`` dedupes);
* ``ce_source``: which component published it (``/hypeledger/ledger``, ``/hypeledger/reconciler``);
* ``ce_type``: ``dev.hypeledger.`` and the topic name (``dev.hypeledger.wallet.transactions.v1``):
  the major version of the payload is in it;
* ``ce_time``: when the occurrence was recorded (RFC 3339, UTC);
* ``ce_subject``: the record key (the player's ``user_id``, or the finding's session id);
* ``content-type``: ``application/json``.

The ``event_id`` header the events carried before stays, for consumers that already read it.
``headers_schema`` is the same list as a JSON Schema, for the AsyncAPI document.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from shared.contracts.topics import RECONCILIATION, TRANSACTIONS

SPECVERSION: Final = "1.0"
CONTENT_TYPE: Final = "application/json"
TYPE_PREFIX: Final = "dev.hypeledger."
LEGACY_EVENT_ID: Final = "event_id"

LEDGER_SOURCE: Final = "/hypeledger/ledger"
RECONCILER_SOURCE: Final = "/hypeledger/reconciler"


@dataclass(frozen=True, slots=True)
class EventSource:
    """Who publishes on which public topic (the topic's contract name, without any prefix)."""

    topic: str
    source: str

    @property
    def type(self) -> str:
        return TYPE_PREFIX + self.topic

    def headers(self, *, event_id: str, time: datetime, subject: str) -> list[tuple[str, bytes]]:
        """The record headers of one event."""
        encoded_id = event_id.encode()
        return [
            ("ce_specversion", b"1.0"),
            ("ce_id", encoded_id),
            ("ce_source", self.source.encode()),
            ("ce_type", self.type.encode()),
            ("ce_time", rfc3339(time).encode()),
            ("ce_subject", subject.encode()),
            ("content-type", b"application/json"),
            (LEGACY_EVENT_ID, encoded_id),
        ]

    def headers_schema(self) -> dict[str, Any]:
        """The headers as a JSON Schema object (for the AsyncAPI message)."""
        text = {"type": "string"}
        return {
            "type": "object",
            "required": [
                "ce_specversion",
                "ce_id",
                "ce_source",
                "ce_type",
                "ce_time",
                "ce_subject",
                "content-type",
                LEGACY_EVENT_ID,
            ],
            "properties": {
                "ce_specversion": {"const": SPECVERSION},
                "ce_id": {**text, "description": "the payload's event_id: stable, dedupe on it"},
                "ce_source": {"const": self.source},
                "ce_type": {"const": self.type},
                "ce_time": {
                    "type": "string",
                    "format": "date-time",
                    "description": "when the occurrence was recorded (RFC 3339, UTC)",
                },
                "ce_subject": {**text, "description": "the record key"},
                "content-type": {"const": CONTENT_TYPE},
                LEGACY_EVENT_ID: {**text, "description": "the same as ce_id (kept for v1)"},
                "traceparent": {
                    **text,
                    "description": "optional: the W3C trace context of the event's publication, "
                    "in the trace of the command that caused it",
                },
            },
        }


TRANSACTION_EVENTS: Final = EventSource(TRANSACTIONS, LEDGER_SOURCE)
FINDING_EVENTS: Final = EventSource(RECONCILIATION, RECONCILER_SOURCE)
PUBLIC: Final = (TRANSACTION_EVENTS, FINDING_EVENTS)


def rfc3339(time: datetime) -> str:
    """``time`` in UTC, written with ``Z`` (naive times are taken as UTC)."""
    aware = time if time.tzinfo is not None else time.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
