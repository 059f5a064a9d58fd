"""Topic names and message header names: part of the public contract, versioned."""

from __future__ import annotations

COMMANDS = "wallet.commands.v1"
COMMANDS_DLQ = "wallet.commands.dlq.v1"
TRANSACTIONS = "wallet.transactions.v1"
RECONCILIATION = "wallet.reconciliation.v1"

#: Prefix of each ingress / operator-API instance's own reply topic (suffix: the instance id).
REPLY_PREFIX = "wallet.replies.v1."

# Header names. FastStream reads and writes these same names for request-reply.
HEADER_CORRELATION_ID = "correlation_id"
HEADER_REPLY_TO = "reply_to"
HEADER_CONTENT_TYPE = "content-type"
HEADER_DLQ_REASON = "dlq_reason"


def reply_topic(instance_id: str) -> str:
    return f"{REPLY_PREFIX}{instance_id}"
