"""Tamper evidence, pure: the canonical encoding of a transaction and the hash chain over them.

**Scope: one chain per player account** ``(user_id, currency)``. Every transaction moves one
player's money (one player leg against a house account), one player's commands are applied by
one writer in order (one Kafka partition, the account's row locked while its money moves), so
the account's transactions have one order that never interleaves with another writer's: the
chain needs no global lock and costs nothing to other accounts. A dispute is about one account,
and so is its proof.

Each link is ``sha256(previous link's hex || canonical encoding)``, the first one's previous
being ``GENESIS``. The canonical encoding is every field that matters, each length-prefixed
(``<bytes>:<text>``, a missing value ``~``) so no two different transactions encode alike: the
transaction's id, kind, provider, provider id, player, currency and round, its time in
microseconds since the epoch, then each posting in leg order (leg, account type, account, currency,
amount, balance after). The database computes the links as the postings are written (trigger
``transaction_chain_link``, migration 0036, in the same transaction); ``hypeledger audit``
recomputes them here, independently, from the stored rows.

Each day's heads are summarised by ``heads_root``: a hash over every account's head at the end of
the day, sorted by account, published as an event, so a copy kept outside the database can later
prove the past was not rewritten (rewriting a transaction changes its account's every later link,
and so the head that day and every root after it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

GENESIS = "0" * 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ChainPosting:
    leg: int
    account_type: str
    account_ref: str
    currency: str
    amount: int
    balance_after: int | None


@dataclass(frozen=True, slots=True)
class ChainTransaction:
    operator_tx_id: str
    kind: str
    provider: str
    provider_tx_id: str
    user_id: str
    currency: str
    round_id: str | None
    created_at: datetime
    postings: Sequence[ChainPosting]


def _field(value: object) -> str:
    if value is None:
        return "~"
    text = str(value)
    return f"{len(text.encode())}:{text}"


def micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch (exact: no float)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def canonical(tx: ChainTransaction) -> str:
    parts = [
        tx.operator_tx_id,
        tx.kind,
        tx.provider,
        tx.provider_tx_id,
        tx.user_id,
        tx.currency,
        tx.round_id,
        micros(tx.created_at),
    ]
    text = "".join(_field(part) for part in parts)
    for p in sorted(tx.postings, key=lambda posting: posting.leg):
        text += "".join(
            _field(part)
            for part in (
                p.leg,
                p.account_type,
                p.account_ref,
                p.currency,
                p.amount,
                p.balance_after,
            )
        )
    return text


def link(previous: str, tx: ChainTransaction) -> str:
    """The link after ``previous`` for ``tx``."""
    return hashlib.sha256((previous + canonical(tx)).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredLink:
    """A link as stored: which transaction, its place in the account's chain, its hashes."""

    operator_tx_id: str
    seq: int
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class BrokenLink:
    operator_tx_id: str
    seq: int
    reason: str


def first_broken(
    links: Iterable[tuple[StoredLink, ChainTransaction | None]],
) -> BrokenLink | None:
    """Walk one account's stored links in ``seq`` order with the transactions as stored now; the
    first link that does not follow (a missing or rewritten transaction, a link out of order, a
    hash that is not the hash of its transaction), or ``None`` when the chain holds."""
    previous, expected_seq = GENESIS, 1
    for stored, tx in links:
        if stored.seq != expected_seq:
            return BrokenLink(stored.operator_tx_id, stored.seq, f"expected link {expected_seq}")
        if stored.prev_hash != previous:
            return BrokenLink(stored.operator_tx_id, stored.seq, "does not follow the link before")
        if tx is None:
            return BrokenLink(stored.operator_tx_id, stored.seq, "its transaction is gone")
        if link(previous, tx) != stored.hash:
            return BrokenLink(stored.operator_tx_id, stored.seq, "transaction changed")
        previous, expected_seq = stored.hash, expected_seq + 1
    return None


def heads_root(heads: Iterable[tuple[str, str, str]]) -> str:
    """One hash over ``(user_id, currency, head)`` of every account, in account order."""
    digest = hashlib.sha256()
    for user_id, currency, head in sorted(heads):
        digest.update((_field(user_id) + _field(currency) + _field(head)).encode())
    return digest.hexdigest()
