"""A batch becomes money once: the unit of work writes every table in one statement guarded by
the offsets it loaded, writes nothing once another writer moved one, and drops what was applied
before.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from ledger_harness import operator, webhook

from services.ledger import store
from services.ledger.app import policy_of
from services.ledger.decide import Command, decide
from services.ledger.faults import Faults
from services.ledger.settings import LedgerSettings
from services.ledger.state import BatchState
from services.ledger.unit_of_work import Entry, OffsetGap, UnitOfWork
from shared.contracts.commands import Mode, OperatorKind, WebhookKind
from shared.contracts.protection import LimitKind, LimitPeriod

GROUP = "paths"
TOPIC = "paths.wallet.commands.v1"
PARTITION = 3
FIRST_OFFSET = 40

#: (table, key columns, compared columns) of every table a batch writes.
TABLES: list[tuple[str, str]] = [
    ("accounts", "user_id, currency, status, balance"),
    (
        "decisions",
        "provider, kind, provider_tx_id, user_id, currency, fingerprint, outcome, status, body,"
        " operator_tx_id, flags, source_topic, source_partition, source_offset",
    ),
    (
        "transactions",
        "operator_tx_id, kind, provider, provider_tx_id, user_id, currency, round_id,"
        " session_token",
    ),
    ("postings", "operator_tx_id, leg, account_type, account_ref, currency, amount, balance_after"),
    (
        "bets",
        "provider, bet_tx_id, user_id, currency, round_id, amount, mode, bonus_code, grant_id,"
        " state, operator_tx_id",
    ),
    ("rollback_tombstones", "provider, bet_tx_id, rollback_tx_id, user_id, currency"),
    ("round_locks", "provider, user_id, round_id, operator_tx_id"),
    ("outbox", "event_id, topic, message_key, payload"),
    ("free_bet_grants", "grant_id, user_id, currency, quantity, remaining"),
    ("consumed_offsets", "group_id, topic, partition, next_offset"),
    ("player_limits", "user_id, currency, kind, period, amount, pending_amount, pending_at"),
    ("player_exclusions", "user_id, currency, kind, since, until"),
    (
        "limit_totals",
        "user_id, currency, period, period_start, deposits, wagers, losses, alerts",
    ),
    (
        "protection_changes",
        "operator_tx_id, user_id, currency, change, idempotency_key, limit_kind, period, amount,"
        " exclusion, until, requested_at, requested_by, reason, effective_at",
    ),
]

WHO = {"requested_by": "support-7", "reason": "player asked"}


def commands(user: str, newcomer: str, grant_user: str) -> list[Command]:
    r2 = {"round_id": "r2"}
    loss_day = {"limit": LimitKind.LOSS, "period": LimitPeriod.DAY, **WHO}
    wager_week = {"limit": LimitKind.WAGER, "period": LimitPeriod.WEEK, **WHO}
    return [
        operator(OperatorKind.SET_LIMIT, user, f"loss-{user}", "5000.00", **loss_day),
        operator(OperatorKind.SET_LIMIT, user, f"wager-{user}", "1500.00", **wager_week),
        operator(OperatorKind.SET_LIMIT, user, f"raise-{user}", "2000.00", **wager_week),  # waits
        webhook(WebhookKind.BET, user, "b1", "10.00"),
        webhook(WebhookKind.WIN, user, "w1", "25.00", linked_tx_id="b1"),
        webhook(WebhookKind.BET, user, "b2", "5.00", **r2),
        webhook(WebhookKind.LOSE, user, "l2", "0", linked_tx_id="b2", **r2),
        webhook(WebhookKind.BET, user, "b3", "4.00", round_id="r3"),
        webhook(  # flagged: the amount differs from the bet's
            WebhookKind.ROLLBACK, user, "rb3", "3.00", linked_tx_id="b3", round_id="r3"
        ),
        webhook(WebhookKind.ROLLBACK, user, "rb9", None, linked_tx_id="b9", round_id="r9"),
        webhook(WebhookKind.BET, user, "b9", "1.00", round_id="r9"),  # after its rollback
        webhook(WebhookKind.WIN, user, "w4", "3.00", round_id="r4"),  # no bet in that round
        webhook(WebhookKind.BET, user, "b7", "2.00", round_id="r7"),
        webhook(WebhookKind.WIN, user, "w7", "6.00", round_id="r7"),  # by round: locks it
        webhook(WebhookKind.BET, user, "b5", "1000.00", round_id="r5"),  # insufficient funds
        webhook(
            WebhookKind.BET, grant_user, "fb1", "0", round_id="f1", mode=Mode.FREE
        ),  # consumes a free-bet unit
        operator(OperatorKind.DEPOSIT, user, f"dep-{user}", "7.50"),
        operator(OperatorKind.CREATE_ACCOUNT, newcomer, f"new-{newcomer}"),
        operator(  # on an account created in the same batch
            OperatorKind.TIME_OUT,
            newcomer,
            f"out-{newcomer}",
            until=datetime.now(UTC) + timedelta(days=1),
            **WHO,
        ),
        operator(OperatorKind.EXCLUDE, grant_user, f"ex-{grant_user}", **WHO),
        webhook(WebhookKind.BET, grant_user, "fb2", "0", round_id="f2", mode=Mode.FREE),
        operator(OperatorKind.BLOCK, user, f"block-{user}"),
        webhook(WebhookKind.BET, user, "b6", "1.00", round_id="r6"),  # refused: blocked
    ]


async def seed(pool: asyncpg.Pool, user: str, grant_user: str) -> None:
    """Two funded players (each balance backed by a deposit's postings, so the audit of the
    shared database holds) and a free-bet grant."""
    async with pool.acquire() as conn, conn.transaction():
        for owner in (user, grant_user):
            op_tx = str(uuid.uuid4())
            await conn.execute(
                "INSERT INTO accounts (user_id, currency, balance) VALUES ($1, 'USD', 10000)",
                owner,
            )
            await conn.execute(
                "INSERT INTO transactions (operator_tx_id, kind, provider, provider_tx_id,"
                " user_id, currency) VALUES ($1, 'deposit', 'operator', $2, $3, 'USD')",
                op_tx,
                f"seed-{owner}",
                owner,
            )
            await conn.execute(
                "INSERT INTO postings (operator_tx_id, leg, account_type, account_ref, currency,"
                " amount, balance_after) VALUES ($1, 0, 'player', $2, 'USD', 10000, 10000),"
                " ($1, 1, 'operator_cash', 'operator', 'USD', -10000, NULL)",
                op_tx,
                owner,
            )
        await conn.execute(
            "INSERT INTO free_bet_grants (user_id, currency, quantity, remaining, value_minor)"
            " VALUES ($1, 'USD', 2, 2, 100)",
            grant_user,
        )


POLICY = policy_of(
    LedgerSettings(
        environment="test",
        database_url="postgresql://unused@127.0.0.1:1/unused",
        kafka_bootstrap_servers="127.0.0.1:1",
        session_check=False,
    )
)
EVENTS = "paths.wallet.transactions.v1"


def decide_all(state: BatchState, batch: list[Command]) -> list[store.Sourced]:
    decided: list[store.Sourced] = []
    for offset, command in enumerate(batch, start=FIRST_OFFSET):
        decision = decide(state, command, POLICY)
        state.apply(decision)
        decided.append((store.Source(TOPIC, PARTITION), offset, command, decision))
    return decided


async def written(
    pool: asyncpg.Pool, batch: list[Command], users: list[str]
) -> dict[str, list[tuple[Any, ...]]]:
    """What the batch leaves in every table for these users, read inside a transaction that is
    then rolled back."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    offsets = store.Offsets(
        GROUP, TOPIC, {PARTITION: FIRST_OFFSET}, {PARTITION: FIRST_OFFSET + len(batch)}
    )
    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            await store.ensure_offsets(conn, GROUP, TOPIC, {PARTITION: FIRST_OFFSET})
            state, stored = await store.load(conn, batch, GROUP, TOPIC, [PARTITION])
            assert stored == {PARTITION: FIRST_OFFSET}
            assert await store.write(conn, state, decide_all(state, batch), EVENTS, offsets)
            for table, columns in TABLES:
                found = await conn.fetch(_select(table, columns), users)
                rows[table] = [tuple(row) for row in found]
        finally:
            await transaction.rollback()
    return rows


def _select(table: str, columns: str) -> str:
    if table == "postings":
        where = (
            "operator_tx_id IN (SELECT operator_tx_id FROM transactions WHERE user_id = ANY($1))"
        )
    elif table == "outbox":
        where = "message_key = ANY($1)"
    elif table == "consumed_offsets":
        where = f"group_id = '{GROUP}' AND cardinality($1::text[]) > 0"
    else:
        where = "user_id = ANY($1)"
    order = ", ".join(f"{column.strip()}::text" for column in columns.split(","))
    return f"SELECT {columns} FROM {table} WHERE {where} ORDER BY {order}"


@pytest.mark.integration
async def test_one_statement_writes_every_table_a_batch_touches(db_pool: asyncpg.Pool) -> None:
    tag = uuid.uuid4().hex[:8]
    user, newcomer, grant_user = f"paths-{tag}", f"paths-new-{tag}", f"paths-free-{tag}"
    await seed(db_pool, user, grant_user)
    batch = commands(user, newcomer, grant_user)

    one = await written(db_pool, batch, [user, newcomer, grant_user])

    flags_at = TABLES[1][1].split(", ").index("flags")
    assert any(row[flags_at] for row in one["decisions"])  # flags survive the text array
    assert {table: len(rows) for table, rows in one.items()} == {
        "accounts": 3,  # the newcomer's included
        "decisions": 23,
        "transactions": 10,  # the two seeds, b1 w1 b2 b3 rb3 b7 w7 and the deposit
        "postings": 20,
        "bets": 5,  # b1 b2 b3 b7 and the free bet
        "rollback_tombstones": 1,
        "round_locks": 1,
        "outbox": 19,  # and the protection events: 3 limit changes, 2 exclusions, 1 refusal
        "free_bet_grants": 1,
        "consumed_offsets": 1,
        "player_limits": 2,
        "player_exclusions": 2,
        "limit_totals": 3,  # the player's day, week and month
        "protection_changes": 5,
    }


async def loaded_batch(pool: asyncpg.Pool, tag: str) -> tuple[str, BatchState, list[store.Sourced]]:
    """A funded player, the offset row stored at FIRST_OFFSET, and a batch loaded (no lock)."""
    user, grant_user = f"guard-{tag}", f"guard-free-{tag}"
    await seed(pool, user, grant_user)
    async with pool.acquire() as conn:
        await store.ensure_offsets(conn, f"{GROUP}-{tag}", TOPIC, {PARTITION: FIRST_OFFSET})
        batch = [webhook(WebhookKind.BET, user, f"b-{tag}", "10.00")]
        state, stored = await store.load(conn, batch, f"{GROUP}-{tag}", TOPIC, [PARTITION])
    assert stored == {PARTITION: FIRST_OFFSET}
    return user, state, decide_all(state, batch)


async def write_loaded(
    pool: asyncpg.Pool,
    tag: str,
    state: BatchState,
    decided: list[store.Sourced],
    partitions: tuple[int, ...] = (PARTITION,),
) -> bool:
    """The loaded batch written, each of ``partitions`` expected at FIRST_OFFSET."""
    async with pool.acquire() as conn:
        offsets = store.Offsets(
            f"{GROUP}-{tag}",
            TOPIC,
            dict.fromkeys(partitions, FIRST_OFFSET),
            dict.fromkeys(partitions, FIRST_OFFSET + 1),
        )
        return await store.write(conn, state, decided, EVENTS, offsets)


async def stored_now(pool: asyncpg.Pool, tag: str, user: str) -> tuple[int, int, int]:
    """(stored offset, the player's balance, the player's decisions)."""
    async with pool.acquire() as conn:
        return (
            await conn.fetchval(
                "SELECT next_offset FROM consumed_offsets WHERE group_id = $1 AND partition = $2",
                f"{GROUP}-{tag}",
                PARTITION,
            ),
            await conn.fetchval("SELECT balance FROM accounts WHERE user_id = $1", user),
            await conn.fetchval("SELECT count(*) FROM decisions WHERE user_id = $1", user),
        )


async def stored_offsets(pool: asyncpg.Pool, tag: str) -> dict[int, int]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT partition, next_offset FROM consumed_offsets WHERE group_id = $1",
            f"{GROUP}-{tag}",
        )
    return {row["partition"]: row["next_offset"] for row in rows}


async def move_offset(
    conn: asyncpg.Connection, tag: str, to: int, partition: int = PARTITION
) -> None:
    await conn.execute(
        "UPDATE consumed_offsets SET next_offset = $2 WHERE group_id = $1 AND partition = $3",
        f"{GROUP}-{tag}",
        to,
        partition,
    )


@pytest.mark.integration
async def test_the_guarded_write_applies_a_batch_whose_offset_did_not_move(
    db_pool: asyncpg.Pool,
) -> None:
    tag = uuid.uuid4().hex[:8]
    user, state, decided = await loaded_batch(db_pool, tag)

    assert await write_loaded(db_pool, tag, state, decided)
    assert await stored_now(db_pool, tag, user) == (FIRST_OFFSET + 1, 10000 - 1000, 1)


@pytest.mark.integration
async def test_the_guarded_write_writes_nothing_once_another_writer_moved_the_offset(
    db_pool: asyncpg.Pool,
) -> None:
    tag = uuid.uuid4().hex[:8]
    user, state, decided = await loaded_batch(db_pool, tag)
    async with db_pool.acquire() as other:
        await move_offset(other, tag, FIRST_OFFSET + 5)

    assert not await write_loaded(db_pool, tag, state, decided)
    assert await stored_now(db_pool, tag, user) == (FIRST_OFFSET + 5, 10000, 0)


@pytest.mark.integration
@pytest.mark.parametrize("other_commits", [True, False])
async def test_the_guarded_write_waits_for_a_writer_holding_the_offset(
    db_pool: asyncpg.Pool, other_commits: bool
) -> None:
    """Another member's batch holds the offset row: the write waits for it, then writes nothing
    if that batch committed (it moved the offset) and everything if it rolled back."""
    tag = uuid.uuid4().hex[:8]
    user, state, decided = await loaded_batch(db_pool, tag)
    async with db_pool.acquire() as other:
        transaction = other.transaction()
        await transaction.start()
        await move_offset(other, tag, FIRST_OFFSET + 5)
        write = asyncio.create_task(write_loaded(db_pool, tag, state, decided))
        await asyncio.sleep(0.5)
        waited = not write.done()
        await (transaction.commit() if other_commits else transaction.rollback())
        applied = await write

    assert waited
    if other_commits:
        assert not applied
        assert await stored_now(db_pool, tag, user) == (FIRST_OFFSET + 5, 10000, 0)
    else:
        assert applied
        assert await stored_now(db_pool, tag, user) == (FIRST_OFFSET + 1, 10000 - 1000, 1)


@pytest.mark.integration
async def test_the_guarded_write_moves_no_offset_unless_it_can_move_them_all(
    db_pool: asyncpg.Pool,
) -> None:
    """Two partitions in one batch; another writer moved one of them: the other stays put."""
    tag = uuid.uuid4().hex[:8]
    other_partition = PARTITION + 1
    user, state, decided = await loaded_batch(db_pool, tag)
    async with db_pool.acquire() as conn:
        await store.ensure_offsets(conn, f"{GROUP}-{tag}", TOPIC, {other_partition: FIRST_OFFSET})
        await move_offset(conn, tag, FIRST_OFFSET + 5, other_partition)
    written = await write_loaded(db_pool, tag, state, decided, (PARTITION, other_partition))
    offsets = await stored_offsets(db_pool, tag)

    assert not written
    assert offsets == {PARTITION: FIRST_OFFSET, other_partition: FIRST_OFFSET + 5}
    assert (await stored_now(db_pool, tag, user))[1:] == (10000, 0)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("other", "moves"),
    [("moves and commits", False), ("rolls back", True), ("locks without moving", True)],
)
async def test_the_guarded_write_waits_on_the_second_of_two_partitions(
    db_pool: asyncpg.Pool, other: str, moves: bool
) -> None:
    """The write holds the first partition's offset while it waits for a writer holding the
    second: both move with the rows, or neither does."""
    tag = uuid.uuid4().hex[:8]
    second = PARTITION + 1
    user, state, decided = await loaded_batch(db_pool, tag)
    async with db_pool.acquire() as conn:
        await store.ensure_offsets(conn, f"{GROUP}-{tag}", TOPIC, {second: FIRST_OFFSET})

    async with db_pool.acquire() as holder:
        transaction = holder.transaction()
        await transaction.start()
        if other == "locks without moving":
            await holder.execute(
                "SELECT 1 FROM consumed_offsets WHERE group_id = $1 AND partition = $2 FOR UPDATE",
                f"{GROUP}-{tag}",
                second,
            )
        else:
            await move_offset(holder, tag, FIRST_OFFSET + 9, second)
        writing = asyncio.create_task(
            write_loaded(db_pool, tag, state, decided, (PARTITION, second))
        )
        await asyncio.sleep(0.5)
        waited = not writing.done()
        await (transaction.rollback() if other == "rolls back" else transaction.commit())
        written = await writing
    offsets = await stored_offsets(db_pool, tag)

    assert waited
    assert written is moves
    if moves:
        assert offsets == {PARTITION: FIRST_OFFSET + 1, second: FIRST_OFFSET + 1}
        assert (await stored_now(db_pool, tag, user))[1:] == (10000 - 1000, 1)
    else:
        assert offsets == {PARTITION: FIRST_OFFSET, second: FIRST_OFFSET + 9}
        assert (await stored_now(db_pool, tag, user))[1:] == (10000, 0)


def unit(pool: asyncpg.Pool, tag: str) -> UnitOfWork:
    return UnitOfWork(
        pool,
        group=f"{GROUP}-{tag}",
        topic=TOPIC,
        events_topic=EVENTS,
        policy=POLICY,
        faults=Faults(),
    )


@pytest.mark.integration
async def test_the_unit_applies_a_batch_once_and_drops_what_was_applied_before(
    db_pool: asyncpg.Pool,
) -> None:
    """The first entry of a partition stores its offset; the same entries again (a redelivery
    after a crash, or a second member) are dropped; one more entry after them is applied."""
    tag = uuid.uuid4().hex[:8]
    user, grant_user = f"uow-{tag}", f"uow-free-{tag}"
    await seed(db_pool, user, grant_user)
    bets = [webhook(WebhookKind.BET, user, f"b{n}-{tag}", "1.00") for n in range(3)]
    entries = [Entry(PARTITION, FIRST_OFFSET + n, bet) for n, bet in enumerate(bets)]

    first = await unit(db_pool, tag).apply(entries[:2])
    again = await unit(db_pool, tag).apply(entries[:2])
    overlapping = await unit(db_pool, tag).apply(entries)

    assert [d.status for _, d in first.decided if d is not None] == [200, 200]
    assert first.next_offsets == {PARTITION: FIRST_OFFSET + 2}
    assert again.decided == []
    assert again.next_offsets == {PARTITION: FIRST_OFFSET + 2}
    assert [entry for entry, _ in overlapping.decided] == entries[2:]
    async with db_pool.acquire() as conn:
        balance = await conn.fetchval("SELECT balance FROM accounts WHERE user_id = $1", user)
    assert balance == 10000 - 3 * 100


@pytest.mark.integration
async def test_the_unit_moves_the_offset_past_an_entry_without_a_command(
    db_pool: asyncpg.Pool,
) -> None:
    tag = uuid.uuid4().hex[:8]

    applied = await unit(db_pool, tag).apply([Entry(PARTITION, FIRST_OFFSET, None)])

    assert applied.decided == [(Entry(PARTITION, FIRST_OFFSET, None), None)]
    assert await stored_offsets(db_pool, tag) == {PARTITION: FIRST_OFFSET + 1}


@pytest.mark.integration
async def test_the_unit_refuses_entries_after_a_gap(db_pool: asyncpg.Pool) -> None:
    tag = uuid.uuid4().hex[:8]
    await unit(db_pool, tag).apply([Entry(PARTITION, FIRST_OFFSET, None)])

    with pytest.raises(OffsetGap):
        await unit(db_pool, tag).apply([Entry(PARTITION, FIRST_OFFSET + 2, None)])
    assert await stored_offsets(db_pool, tag) == {PARTITION: FIRST_OFFSET + 1}


@pytest.mark.integration
async def test_each_decision_keeps_what_its_webhook_asked_for(db_pool: asyncpg.Pool) -> None:
    """The session, round, amount as sent, rollback target and mode are stored with the
    decision, refusals included: the reconciler reads them there, not from the topic."""
    tag = uuid.uuid4().hex[:8]
    user, grant_user = f"sent-{tag}", f"sent-free-{tag}"
    await seed(db_pool, user, grant_user)
    batch: list[Command] = [
        webhook(WebhookKind.BET, user, f"b-{tag}", "1.50", round_id="r8"),
        webhook(WebhookKind.ROLLBACK, user, f"rb-{tag}", "1.50", linked_tx_id=f"b-{tag}"),
        webhook(WebhookKind.BET, user, f"big-{tag}", "999.00", round_id="r9"),  # refused
        operator(OperatorKind.DEPOSIT, user, f"dep-{tag}", "1.00"),
    ]
    entries = [Entry(PARTITION, FIRST_OFFSET + n, command) for n, command in enumerate(batch)]

    await unit(db_pool, tag).apply(entries)

    async with db_pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT provider_tx_id, status, session_token, round_id, amount::text, target_tx_id,"
            " mode FROM decisions WHERE user_id = $1 ORDER BY source_offset",
            user,
        )
    assert [tuple(row) for row in rows] == [
        (f"b-{tag}", 200, f"tok-{user}", "r8", "1.50", None, "default"),
        (f"rb-{tag}", 200, f"tok-{user}", "r1", "1.50", f"b-{tag}", "default"),
        (f"big-{tag}", 403, f"tok-{user}", "r9", "999.00", None, "default"),
        (f"dep-{tag}", 200, None, None, None, None, None),
    ]
