"""The invariants Postgres itself enforces on the ledger's tables, whoever writes to them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.ledger import store

LEGS = (
    "operator_tx_id",
    "leg",
    "account_type",
    "account_ref",
    "currency",
    "amount",
    "balance_after",
)


@pytest.fixture
async def conn(own_db: str) -> AsyncIterator[asyncpg.Connection]:
    """On a database of this module's own: the scan counters below count its statements only."""
    connection = await asyncpg.connect(own_db)
    try:
        yield connection
    finally:
        await connection.close()


async def a_transaction(conn: asyncpg.Connection) -> uuid.UUID:
    tx = uuid.uuid4()
    await conn.execute(
        "INSERT INTO transactions (operator_tx_id, kind, provider, provider_tx_id, user_id, currency)"
        " VALUES ($1, 'bet', 'hypetech', $2, 'schema-user', 'USD')",
        tx,
        str(tx),
    )
    return tx


async def insert_legs(
    conn: asyncpg.Connection, legs: list[tuple[uuid.UUID, int, str, int]]
) -> None:
    """One INSERT statement: (transaction, leg, currency, amount) per row."""
    await conn.copy_records_to_table(
        "postings",
        columns=LEGS,
        records=[
            (
                tx,
                leg,
                "player" if leg == 0 else "provider_clearing",
                "x",
                currency,
                amount,
                0 if leg == 0 else None,  # balance_after: players only (not checked here)
            )
            for tx, leg, currency, amount in legs
        ],
    )


async def stored_legs(conn: asyncpg.Connection, tx: uuid.UUID) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM postings WHERE operator_tx_id = $1", tx))


async def test_balanced_postings_are_stored(conn: asyncpg.Connection) -> None:
    tx = await a_transaction(conn)

    await insert_legs(conn, [(tx, 0, "USD", -100), (tx, 1, "USD", 100)])

    assert await stored_legs(conn, tx) == 2


async def test_postings_that_do_not_sum_to_zero_are_refused(conn: asyncpg.Connection) -> None:
    tx = await a_transaction(conn)

    with pytest.raises(asyncpg.CheckViolationError, match="do not sum to zero"):
        await insert_legs(conn, [(tx, 0, "USD", -100), (tx, 1, "USD", 99)])

    assert await stored_legs(conn, tx) == 0


async def test_one_unbalanced_transaction_refuses_the_whole_statement(
    conn: asyncpg.Connection,
) -> None:
    good, bad = await a_transaction(conn), await a_transaction(conn)

    with pytest.raises(asyncpg.CheckViolationError):
        await insert_legs(
            conn,
            [(good, 0, "USD", -5), (good, 1, "USD", 5), (bad, 0, "USD", -5), (bad, 1, "USD", 4)],
        )

    assert await stored_legs(conn, good) == 0
    assert await stored_legs(conn, bad) == 0


async def test_the_sum_is_per_currency(conn: asyncpg.Connection) -> None:
    tx = await a_transaction(conn)

    with pytest.raises(asyncpg.CheckViolationError):
        await insert_legs(conn, [(tx, 0, "USD", -100), (tx, 1, "EUR", 100)])

    await insert_legs(
        conn,
        [(tx, 0, "USD", -100), (tx, 1, "USD", 100), (tx, 2, "EUR", -7), (tx, 3, "EUR", 7)],
    )
    assert await stored_legs(conn, tx) == 4


async def test_legs_added_later_must_balance_on_their_own(conn: asyncpg.Connection) -> None:
    tx = await a_transaction(conn)
    await insert_legs(conn, [(tx, 0, "USD", -100), (tx, 1, "USD", 100)])

    with pytest.raises(asyncpg.CheckViolationError):
        await insert_legs(conn, [(tx, 2, "USD", 30)])
    await insert_legs(conn, [(tx, 2, "USD", 30), (tx, 3, "USD", -30)])

    assert await stored_legs(conn, tx) == 4


async def test_the_zero_sum_check_reads_no_stored_postings(conn: asyncpg.Connection) -> None:
    """The check reads the statement's own rows only: its cost must not grow with the table."""
    tx = await a_transaction(conn)
    await insert_legs(conn, [(tx, 0, "USD", -1), (tx, 1, "USD", 1)])
    before = await _scans_of_postings(conn)

    for _ in range(3):
        tx = await a_transaction(conn)
        await insert_legs(conn, [(tx, 0, "USD", -1), (tx, 1, "USD", 1)])

    assert await _scans_of_postings(conn) == before


async def _scans_of_postings(conn: asyncpg.Connection) -> int:
    await conn.execute("SELECT pg_stat_force_next_flush()")
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    scans = await conn.fetchval(
        "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0)"
        " FROM pg_stat_user_tables WHERE relname = 'postings'"
    )
    return int(scans)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE postings SET amount = amount * 2 WHERE operator_tx_id = $1",
        "DELETE FROM postings WHERE operator_tx_id = $1",
        "UPDATE transactions SET user_id = 'someone-else' WHERE operator_tx_id = $1",
        "DELETE FROM transactions WHERE operator_tx_id = $1",
        "TRUNCATE postings",
        "TRUNCATE transactions CASCADE",
    ],
)
async def test_postings_and_transactions_are_append_only(
    conn: asyncpg.Connection, statement: str
) -> None:
    tx = await a_transaction(conn)
    await insert_legs(conn, [(tx, 0, "USD", -100), (tx, 1, "USD", 100)])

    with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
        await conn.execute(statement, *([tx] if "$1" in statement else []))

    assert await stored_legs(conn, tx) == 2


async def test_a_posting_needs_its_transaction(conn: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await insert_legs(conn, [(uuid.uuid4(), 0, "USD", -1), (uuid.uuid4(), 1, "USD", 1)])


async def test_a_player_balance_never_goes_negative(conn: asyncpg.Connection) -> None:
    user = f"schema-{uuid.uuid4().hex[:8]}"
    await conn.execute(
        "INSERT INTO accounts (user_id, currency, balance) VALUES ($1, 'USD', 100)", user
    )

    with pytest.raises(asyncpg.CheckViolationError, match="accounts_balance_not_negative"):
        await conn.execute("UPDATE accounts SET balance = balance - 101 WHERE user_id = $1", user)

    assert await conn.fetchval("SELECT balance FROM accounts WHERE user_id = $1", user) == 100


async def test_the_write_row_types_hold_the_columns_the_store_gives(
    conn: asyncpg.Connection,
) -> None:
    """``_WRITE`` takes each table's rows as an array of its row type (migration 0039): each
    type has the columns ``store`` puts in its rows, in the same order and types."""
    parts = [
        *(("insert", table, columns) for table, columns in store.INSERTS.items()),
        *(("upsert", table, columns) for table, (columns, _) in store.UPSERTS.items()),
        *(("update", table, columns) for table, (columns, _, _) in store.UPDATES.items()),
    ]
    for part, table, columns in parts:
        stored = await conn.fetch(
            "SELECT a.attname, format_type(a.atttypid, NULL) FROM pg_attribute a"
            " WHERE a.attrelid = (SELECT typrelid FROM pg_type WHERE oid = $1::regtype)"
            " AND a.attnum > 0"
            " AND NOT a.attisdropped ORDER BY a.attnum",
            store.row_type(part, table),
        )
        expected = [
            (name, await conn.fetchval("SELECT format_type($1::regtype, NULL)", pg_type))
            for name, pg_type in columns
        ]

        assert [tuple(row) for row in stored] == expected, (part, table)
