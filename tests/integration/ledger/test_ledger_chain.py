"""Tamper evidence: every transaction is a link of its account's hash chain, written by the
database with the money; ``hypeledger audit`` recomputes the chains independently and names the
first broken link; each day's heads are recorded and published through the outbox."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest
from ledger_harness import Ledger, unique, webhook
from test_ledger_audit import run_audit

from services.ledger.audit import audit
from services.ledger.chain_audit import broken_chains
from services.ledger.chain_days import check_day, record_days
from shared.contracts.commands import WebhookKind
from shared.db.databases import migrated_database
from shared.infra.stack import Stack

pytestmark = pytest.mark.integration


async def deposit(conn: asyncpg.Connection, user: str, amount: int, balance: int) -> uuid.UUID:
    """A balanced deposit written as the ledger writes one: transaction, then its postings in one
    statement (which chains it)."""
    tx = uuid.uuid4()
    await conn.execute(
        "INSERT INTO transactions (operator_tx_id, kind, provider, provider_tx_id, user_id,"
        " currency) VALUES ($1, 'deposit', 'operator', $2, $3, 'USD')",
        tx,
        f"d-{tx}",
        user,
    )
    await conn.execute(
        "INSERT INTO postings (operator_tx_id, leg, account_type, account_ref, currency, amount,"
        " balance_after) VALUES ($1, 0, 'player', $2, 'USD', $3, $4),"
        " ($1, 1, 'operator_cash', 'operator', 'USD', -$3::bigint, NULL)",
        tx,
        user,
        amount,
        balance,
    )
    await conn.execute(
        "INSERT INTO accounts (user_id, currency, balance) VALUES ($1, 'USD', $2)"
        " ON CONFLICT (user_id, currency) DO UPDATE SET balance = excluded.balance",
        user,
        balance,
    )
    return tx


@pytest.fixture
async def chained(infra: Stack) -> AsyncIterator[tuple[str, list[uuid.UUID]]]:
    """A database of its own with two players' deposits: three links, then two."""
    name = f"hypeledger_chain_{uuid.uuid4().hex[:10]}"
    async with migrated_database(infra.database_admin_url, name) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            async with conn.transaction():  # one now(): the five fall on the same day
                txs = [
                    await deposit(conn, "alice", 500, 500),
                    await deposit(conn, "bob", 100, 100),
                    await deposit(conn, "alice", 250, 750),
                    await deposit(conn, "alice", 50, 800),
                    await deposit(conn, "bob", 1, 101),
                ]
        finally:
            await conn.close()
        yield dsn, txs


async def day_of_deposits(conn: asyncpg.Connection) -> date:
    """The UTC day the fixture's deposits were linked: the test may run after midnight."""
    written: datetime = await conn.fetchval("SELECT max(linked_at) FROM transaction_chain")
    return written.astimezone(UTC).date()


async def verify(dsn: str) -> list[dict[str, object]]:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            return await broken_chains(conn, limit=100)
    finally:
        await conn.close()


async def tamper(dsn: str, statement: str, *args: object) -> None:
    """Change stored rows as someone with database access would, append-only guards off."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(statement, *args)
    finally:
        await conn.close()


async def test_each_account_chains_its_transactions_in_order(
    chained: tuple[str, list[uuid.UUID]],
) -> None:
    dsn, txs = chained
    conn = await asyncpg.connect(dsn)
    try:
        links = await conn.fetch(
            "SELECT operator_tx_id, user_id, seq, prev_hash, hash FROM transaction_chain"
            " ORDER BY user_id, seq"
        )
        heads = await conn.fetch("SELECT user_id, seq, head FROM chain_heads ORDER BY user_id")
    finally:
        await conn.close()

    assert [(r["user_id"], r["seq"], r["operator_tx_id"]) for r in links] == [
        ("alice", 1, txs[0]),
        ("alice", 2, txs[2]),
        ("alice", 3, txs[3]),
        ("bob", 1, txs[1]),
        ("bob", 2, txs[4]),
    ]
    assert links[0]["prev_hash"] == "0" * 64
    assert links[1]["prev_hash"] == links[0]["hash"]
    assert [(h["user_id"], h["seq"], h["head"]) for h in heads] == [
        ("alice", 3, links[2]["hash"]),
        ("bob", 2, links[4]["hash"]),
    ]


async def test_an_untouched_ledger_verifies_clean(chained: tuple[str, list[uuid.UUID]]) -> None:
    dsn, _ = chained

    assert await verify(dsn) == []
    result = run_audit(dsn)
    assert result.returncode == 0, result.stdout + result.stderr


async def test_a_rewritten_amount_is_named_by_the_audit(
    chained: tuple[str, list[uuid.UUID]],
) -> None:
    dsn, txs = chained

    await tamper(
        dsn,
        "UPDATE postings SET amount = amount + 1000 WHERE operator_tx_id = $1 AND leg = 0",
        txs[2],
    )

    (broken,) = await verify(dsn)
    assert (broken["user_id"], broken["operator_tx_id"], broken["seq"]) == (
        "alice",
        str(txs[2]),
        2,
    )
    assert broken["reason"] == "transaction changed"
    result = run_audit(dsn)
    assert result.returncode == 1
    assert "FAIL hash_chain_holds" in result.stdout
    assert str(txs[2]) in result.stdout


async def test_a_rewritten_chain_after_a_rewritten_amount_still_breaks_at_its_head(
    chained: tuple[str, list[uuid.UUID]],
) -> None:
    """Rewriting the links too (recomputing them) hides nothing from a published day: the day's
    recorded root no longer matches the ledger."""
    dsn, txs = chained
    conn = await asyncpg.connect(dsn)
    try:
        today = await day_of_deposits(conn)
        (day,) = await record_days(conn, through=today, time_zone="UTC", topic="t.events")
        published = await conn.fetchval(
            "SELECT payload FROM outbox WHERE message_key = 'chain-heads'"
        )
    finally:
        await conn.close()

    await tamper(
        dsn, "UPDATE transaction_chain SET hash = $2 WHERE operator_tx_id = $1", txs[3], "f" * 64
    )
    await tamper(dsn, "UPDATE chain_heads SET head = $1 WHERE user_id = 'alice'", "f" * 64)

    conn = await asyncpg.connect(dsn)
    try:
        again = await check_day(conn, today, "UTC")
    finally:
        await conn.close()
    assert (day.event.accounts, day.event.links) == (2, 5)
    assert day.event.root in published
    assert again is not None
    assert not again.matches


async def test_a_day_is_recorded_once_and_rechecked_after(
    chained: tuple[str, list[uuid.UUID]],
) -> None:
    dsn, _ = chained
    conn = await asyncpg.connect(dsn)
    try:
        today = await day_of_deposits(conn)
        first = await record_days(conn, through=today, time_zone="UTC", topic="t.events")
        second = await record_days(conn, through=today, time_zone="UTC", topic="t.events")
        later = await record_days(
            conn, through=today + timedelta(days=1), time_zone="UTC", topic="t.events"
        )
        check = await check_day(conn, today, "UTC")
        events = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE message_key = 'chain-heads'"
        )
    finally:
        await conn.close()

    assert [d.event.day for d in first] == [today]
    assert second == []
    assert [d.event.previous_root for d in later] == [first[0].event.root]
    assert later[0].event.accounts == 0
    assert check is not None
    assert check.matches
    assert events == 2


async def test_the_ledgers_own_transactions_verify(ledger: Ledger) -> None:
    """The database's encoding and the audit's are the same on real decisions (bets with their
    rounds, wins, rollbacks, several in one batch)."""
    user = await ledger.player("10.00")
    bet = unique("b")
    await ledger.send(webhook(WebhookKind.BET, user, bet, "1.00"))
    await ledger.send(webhook(WebhookKind.WIN, user, unique("w"), "2.50", linked_tx_id=bet))
    second = unique("b")
    await ledger.send(webhook(WebhookKind.BET, user, second, "3.00"))
    await ledger.send(webhook(WebhookKind.ROLLBACK, user, unique("r"), "3.00", linked_tx_id=second))

    async with ledger.pool.acquire() as conn:
        report = await audit(conn, limit=10)
        links = await conn.fetchval(
            "SELECT count(*) FROM transaction_chain WHERE user_id = $1", user
        )

    assert report.violations["hash_chain_holds"] == []
    assert report.violations["transaction_is_chained"] == []
    assert report.violations["balance_after_is_the_running_sum"] == []
    assert links == 5  # the deposit, two bets, the win, the rollback
