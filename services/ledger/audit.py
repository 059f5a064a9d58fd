"""``hypeledger audit``: recompute every balance from postings and check every ledger invariant.

Each check is one SQL query returning its violations (at most ``limit`` rows each); an empty
report means the ledger is consistent. The checks read only, in one repeatable-read snapshot.
Player protection's check replays each protected account's applied decisions, in the ledger's
order, against the limits and exclusions its recorded changes put in force at each one's time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from services.ledger import chain_audit
from services.ledger.chain_audit import broken_chains
from services.ledger.protection import (
    DEPOSIT_KINDS,
    STAKE_KINDS,
    Exclusion,
    Limit,
    Totals,
    add,
    breach,
    change_limit,
    current_totals,
    extend_exclusion,
)
from shared.contracts.protection import ExclusionKind, LimitKind, LimitPeriod

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
    # Migration 0038: each decision's key is in idempotency_keys with the decided_at that names
    # its partition, and each key has its decision. A run of retention stopped between a key and
    # its row leaves a decision without its key before the run's cutoff: excused, as below.
    "key_has_its_decision": """
        SELECT k.provider, k.kind, k.provider_tx_id, k.decided_at
        FROM idempotency_keys k
        WHERE NOT EXISTS (
            SELECT 1 FROM decisions d
            WHERE d.provider = k.provider AND d.kind = k.kind
              AND d.provider_tx_id = k.provider_tx_id AND d.decided_at = k.decided_at
        )
        LIMIT $1
    """,
    "decision_has_its_key": """
        SELECT d.provider, d.kind, d.provider_tx_id, d.decided_at
        FROM decisions d
        WHERE d.decided_at >= COALESCE(
            (SELECT max(r.cutoff) FROM retention_runs r), '-infinity'::timestamptz
          )
          AND NOT EXISTS (
            SELECT 1 FROM idempotency_keys k
            WHERE k.provider = d.provider AND k.kind = d.kind
              AND k.provider_tx_id = d.provider_tx_id AND k.decided_at = d.decided_at
        )
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
    "balance_after_is_the_running_sum": """
        SELECT operator_tx_id::text, leg, account_ref AS user_id, currency, balance_after, running
        FROM (
            SELECT operator_tx_id, leg, account_ref, currency, balance_after,
                   sum(amount) OVER (
                       PARTITION BY account_ref, currency ORDER BY posted_at, posting_id
                   ) AS running
            FROM postings
            WHERE account_type = 'player'
        ) p
        WHERE balance_after IS DISTINCT FROM running
        LIMIT $1
    """,
    "transaction_is_chained": chain_audit.UNCHAINED,
    "chain_head_is_the_last_link": chain_audit.STALE_HEADS,
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
                progress(done, len(CHECKS) + 1)
        report.violations["no_bet_or_deposit_broke_a_limit"] = await _protection_violations(
            conn, limit
        )
        report.violations["hash_chain_holds"] = await broken_chains(conn, limit)
        if progress is not None:
            progress(len(CHECKS) + 1, len(CHECKS) + 1)
        report.accounts = await conn.fetchval("SELECT count(*) FROM accounts")
        report.postings = await conn.fetchval("SELECT count(*) FROM postings")
        report.decisions = await conn.fetchval("SELECT count(*) FROM decisions")
    return report


# -- player protection ------------------------------------------------------------------------

#: Accounts whose protection ever changed, with the zone their periods were counted in.
_PROTECTED_ACCOUNTS = """
SELECT DISTINCT ON (user_id, currency) user_id, currency, time_zone
FROM protection_changes
ORDER BY user_id, currency, requested_at DESC
"""

#: One account's applied decisions in the ledger's order (and its changes whose decision has
#: expired), with what protection needs of each:
#: the change it recorded, the stake of a bet, the money a decision moved for the player and
#: whether it was a free bet's money (the bonus account's).
_ACCOUNT_DECISIONS = """
SELECT d.kind, d.operator_tx_id::text, coalesce(d.occurred_at, d.decided_at) AS at,
       c.change, c.limit_kind, c.period, c.amount AS limit_amount, c.exclusion, c.until,
       c.requested_at, c.effective_at,
       b.mode, b.amount AS stake,
       p.player, p.bonus,
       d.decided_at AS ordered_at, d.source_offset
FROM decisions d
LEFT JOIN protection_changes c ON c.operator_tx_id = d.operator_tx_id
LEFT JOIN bets b ON d.kind = 'bet' AND b.provider = d.provider AND b.bet_tx_id = d.provider_tx_id
LEFT JOIN LATERAL (
    SELECT sum(amount) FILTER (WHERE account_type = 'player') AS player,
           bool_or(account_type = 'bonus') AS bonus
    FROM postings
    WHERE operator_tx_id = d.operator_tx_id
) p ON true
WHERE d.user_id = $1
  AND d.currency = $2
  AND d.outcome = 'applied'
UNION ALL
-- Changes whose decision retention has deleted: kept for good, in the same place of the order
-- (recorded in the same transaction as their decision; the rest of that batch expired with it,
-- so a tie with a kept decision only happens when rows were written by hand: the change first).
SELECT c.change, c.operator_tx_id::text, c.requested_at,
       c.change, c.limit_kind, c.period, c.amount, c.exclusion, c.until,
       c.requested_at, c.effective_at,
       NULL, NULL, NULL, NULL,
       c.recorded_at, NULL
FROM protection_changes c
WHERE c.user_id = $1
  AND c.currency = $2
  AND NOT EXISTS (SELECT 1 FROM decisions d WHERE d.operator_tx_id = c.operator_tx_id)
ORDER BY ordered_at, source_offset NULLS FIRST
"""


async def _protection_violations(conn: asyncpg.Connection, limit: int) -> list[dict[str, Any]]:
    """Replay each protected account's decisions in order against its recorded changes: no
    applied bet or deposit may have broken a limit in force at its time, nor come while the
    player was excluded."""
    found: list[dict[str, Any]] = []
    for account in await conn.fetch(_PROTECTED_ACCOUNTS):
        rows = await conn.fetch(_ACCOUNT_DECISIONS, account["user_id"], account["currency"])
        for violation in replay_protection(rows, account["time_zone"]):
            found.append(
                {"user_id": account["user_id"], "currency": account["currency"]} | violation
            )
            if len(found) >= limit:
                return found
    return found


def replay_protection(rows: list[Any], time_zone: str) -> list[dict[str, Any]]:
    """The violations in one account's applied decisions (``_ACCOUNT_DECISIONS`` rows)."""
    limits: dict[tuple[LimitKind, LimitPeriod], Limit] = {}
    exclusion: Exclusion | None = None
    stored: dict[LimitPeriod, Totals] = {}
    violations: list[dict[str, Any]] = []
    for row in rows:
        at = row["at"]
        if row["change"] in ("set_limit", "remove_limit"):
            kind, period = LimitKind(row["limit_kind"]), LimitPeriod(row["period"])
            change = change_limit(
                limits.get((kind, period)),
                kind,
                period,
                row["limit_amount"],
                at=row["requested_at"],
                cooling_off=row["effective_at"] - row["requested_at"],
            )
            if change.limit is not None:
                limits[(kind, period)] = change.limit
            continue
        if row["change"] in ("exclude", "time_out"):
            exclusion = extend_exclusion(
                exclusion, ExclusionKind(row["exclusion"]), row["until"], row["requested_at"]
            )
            continue
        totals = current_totals(stored.get, at, time_zone)
        moved = row["player"] or 0
        if row["kind"] == "bet" and row["mode"] == "default" and row["stake"]:
            kinds, amounts = STAKE_KINDS, {"wagers": row["stake"], "losses": row["stake"]}
        elif row["kind"] == "deposit" and moved > 0:
            kinds, amounts = DEPOSIT_KINDS, {"deposits": moved}
        elif row["kind"] in ("win", "rollback") and moved > 0 and not row["bonus"]:
            stored, _ = add(limits, totals, at, losses=-moved)
            continue
        else:
            continue
        amount = next(iter(amounts.values()))
        what = {"operator_tx_id": row["operator_tx_id"], "kind": row["kind"], "amount": amount}
        if exclusion is not None and exclusion.in_force(at):
            violations.append({**what, "broke": exclusion.kind.value, "at": at.isoformat()})
        broken = breach(limits, totals, kinds, amount, at)
        if broken is not None:
            limit_name = f"{broken.kind.value}/{broken.period.value}"
            violations.append(
                {**what, "broke": limit_name, "limit": broken.limit, "at": at.isoformat()}
            )
        stored, _ = add(limits, totals, at, **amounts)
    return violations
