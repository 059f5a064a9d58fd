"""The ledger's decision: stored state + one command -> one ``Decision``. Pure.

Every row of the decision table in ``docs/wallet-semantics.md`` is a function of the stored state
(read through ``BatchState``), the command and the ``Policy``. No clock (a webhook's time is its
``received_at``), no random ids (``operator_tx_id`` is derived from the key and the command's own
time), no I/O.

Idempotency comes first, here: a key that already has a decision gets that decision's stored
response byte for byte when the payload is the same, and 409 ``duplicate-transaction-mismatch``
when it is not; either way nothing moves. Then the kind's rule decides: ``webhook_rules`` and
``operator_rules``, which return an acceptance or raise a refusal (``row.Refused``); the texts
are ``render``'s.
"""

from __future__ import annotations

import hashlib

from services.ledger.model import OPERATOR_PROVIDER, Command, Decision, Key, Outcome, Policy
from services.ledger.operator_rules import OPERATOR_RULES
from services.ledger.render import Answer, balance_answer, refusal
from services.ledger.row import Refused, Row
from services.ledger.state import BatchState
from services.ledger.webhook_rules import WEBHOOK_RULES
from shared.contracts.commands import OperatorCommand, WebhookEnvelope, WebhookKind
from shared.jsonwire import dumps_compact
from shared.money import format_minor

__all__ = ["Command", "decide", "fingerprint", "key_of", "unprocessable"]


def key_of(command: Command) -> Key | None:
    """The idempotency key, or ``None`` for balance reads and webhooks without a transaction id."""
    if isinstance(command, OperatorCommand):
        return Key(OPERATOR_PROVIDER, command.kind, command.idempotency_key)
    if command.kind is WebhookKind.BALANCE or command.provider_tx_id is None:
        return None
    return Key(command.provider, command.kind, command.provider_tx_id)


def fingerprint(command: Command) -> str:
    """A digest of ``fingerprint_fields()``: equal for a redelivery, different for a mismatch."""
    fields = [None if value is None else str(value) for value in command.fingerprint_fields()]
    return hashlib.sha256(dumps_compact(fields).encode()).hexdigest()


def decide(state: BatchState, command: Command, policy: Policy) -> Decision:
    key = key_of(command)
    if key is None:
        if isinstance(command, WebhookEnvelope) and command.kind is WebhookKind.BALANCE:
            return _balance(state, command, policy)
        answer = refusal("invalid-field", "provider_tx_id is required", field="provider_tx_id")
        return _unstored(command, Outcome.INVALID, answer)
    digest = fingerprint(command)
    stored = state.decision(key)
    if stored is not None:
        if stored.fingerprint == digest:
            return Decision(
                outcome=Outcome.REPLAYED,
                status=stored.status,
                body=stored.body,
                kind=key.kind,
                user_id=command.user_id,
                currency=command.currency,
                key=key,
                fingerprint=digest,
                operator_tx_id=stored.operator_tx_id,
            )
        detail = f"{key.kind} {key.provider_tx_id} was already decided with a different payload"
        answer = refusal(
            "duplicate-transaction-mismatch", detail, key=key, decision_id=stored.operator_tx_id
        )
        return _unstored(command, Outcome.MISMATCH, answer, key=key, digest=digest)
    expired_tx = state.expired.get(key)
    if expired_tx is not None:
        detail = (
            f"{key.kind} {key.provider_tx_id} was applied longer ago than the retention period;"
            " its stored answer has expired and it is not applied again"
        )
        answer = refusal("decision-expired", detail, key=key, decision_id=expired_tx)
        return _unstored(command, Outcome.EXPIRED, answer, key=key, digest=digest)
    row = Row(state, command, key, digest, policy)
    try:
        if isinstance(command, OperatorCommand):
            return OPERATOR_RULES[command.kind](row, command)
        return WEBHOOK_RULES[command.kind](row, command)
    except Refused as refused:
        return refused.decision


def unprocessable(command: Command, detail: str, policy: Policy) -> Decision | None:
    """The stored answer (500 ``unprocessable-command``) of a command the database refused on
    its own; ``None`` for a command without a key (nothing of it could be stored)."""
    key = key_of(command)
    if key is None:
        return None
    row = Row(BatchState(), command, key, fingerprint(command), policy)
    return row.refuse("unprocessable-command", detail).decision


def _unstored(
    command: Command,
    outcome: Outcome,
    answer: Answer,
    *,
    key: Key | None = None,
    digest: str = "",
) -> Decision:
    """An answer that is never stored (the key, if any, keeps what it has)."""
    return Decision(
        outcome=outcome,
        status=answer.status,
        body=answer.body,
        kind=command.kind if key is None else key.kind,
        user_id=command.user_id,
        currency=command.currency,
        key=key,
        fingerprint=digest,
    )


def _balance(state: BatchState, env: WebhookEnvelope, policy: Policy) -> Decision:
    account = state.account(env.user_id, env.currency)
    if account is None:
        answer = refusal("account-not-found", f"no {env.currency} account for user {env.user_id}")
    else:
        answer = balance_answer(env, format_minor(account.balance, env.currency, policy.currencies))
    return _unstored(env, Outcome.READ, answer)
