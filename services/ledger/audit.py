"""``hypeledger audit``: recompute every balance from postings and check every ledger invariant.

Each check is one SQL query returning its violations (at most ``limit`` rows each); an empty
report means the ledger is consistent. The checks read only, in one repeatable-read snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

CHECKS: dict[str, str] = {
    "balance_matches_postings": """
        SELECT a.user_id, a.currency, a.balance, coalesce(p.total, 0) AS from_postings
        FROM accounts a
        LEFT JOIN (
            SELECT account_ref, currency, sum(amount) AS total
            FROM postings
            WHERE account_type = 'player'
            GROUP BY account_ref, currency
        ) p ON p.account_ref = a.user_id AND p.currency = a.currency
        WHERE a.balance <> coalesce(p.total, 0)
        LIMIT $1
    """,
    "postings_without_account": """
        SELECT p.account_ref AS user_id, p.currency, sum(p.amount) AS total
        FROM postings p
        LEFT JOIN accounts a ON a.user_id = p.account_ref AND a.currency = p.currency
        WHERE p.account_type = 'player' AND a.user_id IS NULL
        GROUP BY p.account_ref, p.currency
        LIMIT $1
    """,
    "transaction_sums_to_zero": """
        SELECT operator_tx_id::text, currency, sum(amount) AS total
        FROM postings
        GROUP BY operator_tx_id, currency
        HAVING sum(amount) <> 0
        LIMIT $1
    """,
    "transaction_has_postings": """
        SELECT t.operator_tx_id::text
        FROM transactions t
        LEFT JOIN postings p ON p.operator_tx_id = t.operator_tx_id
        WHERE p.operator_tx_id IS NULL
        LIMIT $1
    """,
    "player_balance_not_negative": """
        SELECT user_id, currency, balance
        FROM accounts
        WHERE balance < 0
        LIMIT $1
    """,
    "one_decision_per_key": """
        SELECT provider, kind, provider_tx_id, count(*) AS decisions
        FROM decisions
        GROUP BY provider, kind, provider_tx_id
        HAVING count(*) > 1
        LIMIT $1
    """,
    "one_transaction_per_key": """
        SELECT provider, kind, provider_tx_id, count(*) AS transactions
        FROM transactions
        GROUP BY provider, kind, provider_tx_id
        HAVING count(*) > 1
        LIMIT $1
    """,
    "applied_decision_has_its_transaction": """
        SELECT d.provider, d.kind, d.provider_tx_id
        FROM decisions d
        LEFT JOIN transactions t ON t.operator_tx_id = d.operator_tx_id
        WHERE d.outcome = 'applied'
          AND d.kind IN ('deposit', 'withdraw')
          AND t.operator_tx_id IS NULL
        LIMIT $1
    """,
    "transaction_decision_is_applied": """
        SELECT t.operator_tx_id::text, t.kind, t.provider_tx_id
        FROM transactions t
        JOIN decisions d ON d.operator_tx_id = t.operator_tx_id
        WHERE d.outcome <> 'applied'
        LIMIT $1
    """,
    "bet_state_matches_its_postings": """
        SELECT b.provider, b.bet_tx_id, b.state, b.mode, b.amount,
               coalesce(p.total, 0) AS player_total
        FROM bets b
        LEFT JOIN transactions bt
          ON bt.provider = b.provider AND bt.kind = 'bet' AND bt.provider_tx_id = b.bet_tx_id
        LEFT JOIN LATERAL (
            SELECT sum(amount) AS total
            FROM postings
            WHERE operator_tx_id = bt.operator_tx_id AND account_type = 'player'
        ) p ON true
        WHERE (b.mode = 'default' AND b.amount > 0 AND coalesce(p.total, 0) <> -b.amount)
           OR (b.mode = 'free' AND bt.operator_tx_id IS NOT NULL)
        LIMIT $1
    """,
    "bet_without_decision": """
        SELECT b.provider, b.bet_tx_id
        FROM bets b
        WHERE b.created_at >= COALESCE(
            (SELECT max(r.cutoff) FROM retention_runs r), '-infinity'::timestamptz
          )
          AND NOT EXISTS (
            SELECT 1
            FROM decisions d
            WHERE d.provider = b.provider AND d.kind = 'bet' AND d.provider_tx_id = b.bet_tx_id
          )
        LIMIT $1
    """,
    "bet_decision_applied": """
        SELECT b.provider, b.bet_tx_id, d.outcome
        FROM bets b
        JOIN decisions d
          ON d.provider = b.provider AND d.kind = 'bet' AND d.provider_tx_id = b.bet_tx_id
        WHERE d.outcome <> 'applied'
        LIMIT $1
    """,
    "tombstoned_bet_never_applied": """
        SELECT b.provider, b.bet_tx_id, b.state
        FROM bets b
        JOIN rollback_tombstones t ON t.provider = b.provider AND t.bet_tx_id = b.bet_tx_id
        LIMIT $1
    """,
    "grant_units_not_over_returned": """
        SELECT g.grant_id, g.quantity, g.remaining, count(b.*) AS open_free_bets
        FROM free_bet_grants g
        LEFT JOIN bets b ON b.grant_id = g.grant_id AND b.state <> 'rolled_back'
        GROUP BY g.grant_id, g.quantity, g.remaining
        HAVING g.remaining + count(b.*) > g.quantity
        LIMIT $1
    """,
}


@dataclass
class AuditReport:
    violations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    accounts: int = 0
    postings: int = 0
    decisions: int = 0

    @property
    def clean(self) -> bool:
        return not any(self.violations.values())


async def audit(
    conn: asyncpg.Connection,
    *,
    limit: int = 20,
    progress: Callable[[int, int | None], None] | None = None,
) -> AuditReport:
    """Every check in one snapshot; ``progress(done, total)`` is told each finished check."""
    report = AuditReport()
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        for done, (name, sql) in enumerate(CHECKS.items(), start=1):
            rows = await conn.fetch(sql, limit)
            report.violations[name] = [dict(row) for row in rows]
            if progress is not None:
                progress(done, len(CHECKS))
        report.accounts = await conn.fetchval("SELECT count(*) FROM accounts")
        report.postings = await conn.fetchval("SELECT count(*) FROM postings")
        report.decisions = await conn.fetchval("SELECT count(*) FROM decisions")
    return report
