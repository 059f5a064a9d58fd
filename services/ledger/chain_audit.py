"""``hypeledger audit``'s tamper check: every account's hash chain recomputed from the rows as
stored now (``services/ledger/chain.py``, independent of the database's trigger), and the first
broken link of each broken chain named, with its transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from services.ledger.chain import ChainPosting, ChainTransaction, StoredLink, first_broken

#: Every link with its transaction and postings as stored, one account's links together, in
#: chain order (streamed through a cursor: the whole ledger is never held at once).
_LINKS = """
SELECT c.user_id AS chain_user, c.currency AS chain_currency, c.seq,
       c.operator_tx_id::text AS link_tx, c.prev_hash, c.hash,
       t.operator_tx_id::text AS tx_id, t.kind, t.provider, t.provider_tx_id, t.user_id,
       t.currency, t.round_id, t.created_at,
       p.legs, p.types, p.refs, p.currencies, p.amounts, p.balances
FROM transaction_chain c
LEFT JOIN transactions t ON t.operator_tx_id = c.operator_tx_id
LEFT JOIN LATERAL (
    SELECT array_agg(leg ORDER BY leg) AS legs,
           array_agg(account_type ORDER BY leg) AS types,
           array_agg(account_ref ORDER BY leg) AS refs,
           array_agg(currency ORDER BY leg) AS currencies,
           array_agg(amount ORDER BY leg) AS amounts,
           array_agg(balance_after ORDER BY leg) AS balances
    FROM postings
    WHERE operator_tx_id = c.operator_tx_id
) p ON true
ORDER BY c.user_id, c.currency, c.seq
"""

#: Transactions with no link (written with the chain's trigger disabled, say).
UNCHAINED = """
SELECT t.operator_tx_id::text, t.kind, t.user_id, t.currency
FROM transactions t
WHERE NOT EXISTS (SELECT 1 FROM transaction_chain c WHERE c.operator_tx_id = t.operator_tx_id)
LIMIT $1
"""

#: Heads that are not their account's last link.
STALE_HEADS = """
SELECT h.user_id, h.currency, h.seq, h.head
FROM chain_heads h
LEFT JOIN transaction_chain c
  ON c.user_id = h.user_id AND c.currency = h.currency AND c.seq = h.seq
WHERE c.hash IS DISTINCT FROM h.head
   OR EXISTS (
       SELECT 1 FROM transaction_chain n
       WHERE n.user_id = h.user_id AND n.currency = h.currency AND n.seq > h.seq
   )
LIMIT $1
"""


def _transaction(row: asyncpg.Record) -> ChainTransaction | None:
    if row["tx_id"] is None:
        return None
    postings = [
        ChainPosting(*fields)
        for fields in zip(
            row["legs"] or [],
            row["types"] or [],
            row["refs"] or [],
            row["currencies"] or [],
            row["amounts"] or [],
            row["balances"] or [],
            strict=True,
        )
    ]
    return ChainTransaction(
        operator_tx_id=row["tx_id"],
        kind=row["kind"],
        provider=row["provider"],
        provider_tx_id=row["provider_tx_id"],
        user_id=row["user_id"],
        currency=row["currency"],
        round_id=row["round_id"],
        created_at=row["created_at"],
        postings=postings,
    )


async def _accounts(
    conn: asyncpg.Connection,
) -> AsyncIterator[tuple[tuple[str, str], list[tuple[StoredLink, ChainTransaction | None]]]]:
    account: tuple[str, str] | None = None
    links: list[tuple[StoredLink, ChainTransaction | None]] = []
    async for row in conn.cursor(_LINKS, prefetch=2000):
        here = (row["chain_user"], row["chain_currency"])
        if here != account:
            if account is not None:
                yield account, links
            account, links = here, []
        stored = StoredLink(row["link_tx"], row["seq"], row["prev_hash"], row["hash"])
        links.append((stored, _transaction(row)))
    if account is not None:
        yield account, links


async def broken_chains(conn: asyncpg.Connection, limit: int) -> list[dict[str, Any]]:
    """The first broken link of each broken account chain (at most ``limit``); call inside a
    transaction (the cursor needs one; the audit's snapshot is)."""
    found: list[dict[str, Any]] = []
    async for (user_id, currency), links in _accounts(conn):
        broken = first_broken(links)
        if broken is not None:
            found.append(
                {
                    "user_id": user_id,
                    "currency": currency,
                    "operator_tx_id": broken.operator_tx_id,
                    "seq": broken.seq,
                    "reason": broken.reason,
                }
            )
            if len(found) >= limit:
                break
    return found
