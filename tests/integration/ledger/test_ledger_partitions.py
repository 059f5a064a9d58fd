"""Decisions partitioned by month (migration 0038): the idempotency key stays exact across
months, a month without its partition never refuses a decision, and retention removes whole
months by dropping their partitions.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from ledger_harness import operator, webhook
from test_ledger_plans import generic_plan, nodes

from services.ledger import store
from services.ledger.app import policy_of
from services.ledger.audit import audit
from services.ledger.decide import decide
from services.ledger.errors import ErrorClass, MissingDecision, classify
from services.ledger.faults import Faults
from services.ledger.model import Key, Outcome
from services.ledger.retention import RetentionResult, expire
from services.ledger.settings import LedgerSettings
from services.ledger.unit_of_work import Entry, UnitOfWork
from shared.contracts.commands import OperatorKind, WebhookKind
from shared.db.databases import migrated_database
from shared.infra.stack import Stack
from shared.settings import Environment

pytestmark = pytest.mark.integration

POLICY = policy_of(LedgerSettings(environment="test"))
PARTITION = 0
WINDOW_DAYS = 180  # development's floor


@pytest.fixture(scope="module")
async def pool(own_db: str) -> AsyncIterator[asyncpg.Pool]:
    connections = await asyncpg.create_pool(
        own_db, min_size=1, max_size=4, server_settings=dict(store.KEY_LOOKUPS_ONLY)
    )
    try:
        yield connections
    finally:
        await connections.close()


class Player:
    """A funded player whose commands go through a real unit of work, on a topic of its own."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.user = f"parts-{uuid.uuid4().hex[:8]}"
        self.unit = UnitOfWork(
            pool,
            group="parts",
            topic=f"parts-{self.user}",
            events_topic="events",
            policy=POLICY,
            faults=Faults(),
        )
        self.offset = 0

    async def send(self, command: Any) -> Any:
        applied = await self.unit.apply([Entry(PARTITION, self.offset, command)])
        self.offset += 1
        [(_, decision)] = applied.decided
        return decision

    async def funded(self) -> Player:
        await self.send(operator(OperatorKind.CREATE_ACCOUNT, self.user, f"c-{self.user}"))
        await self.send(operator(OperatorKind.DEPOSIT, self.user, f"d-{self.user}", "100.00"))
        await self.pool.execute(
            "INSERT INTO sessions (token, user_id, currency, game, expires_at)"
            " VALUES ($1, $2, 'USD', 'aviador', now() + interval '1 hour')",
            f"tok-{self.user}",
            self.user,
        )
        return self

    async def balance(self) -> int:
        value: int = await self.pool.fetchval(
            "SELECT balance FROM accounts WHERE user_id = $1", self.user
        )
        return value


async def backdate(pool: asyncpg.Pool, tx: str, when: datetime) -> None:
    """Move the decision of ``tx`` and its key to ``when``, into that month's partition."""
    async with pool.acquire() as conn:
        await conn.execute("SELECT decisions_add_months($1, $1)", when)
        async with conn.transaction():
            for table in ("decisions", "idempotency_keys"):
                await conn.execute(
                    f"UPDATE {table} SET decided_at = $2 WHERE provider_tx_id = $1", tx, when
                )


async def retention(conn: asyncpg.Connection, now: datetime, **options: Any) -> RetentionResult:
    """A retention run of development's window at ``now``."""
    return await expire(
        conn,
        now=now,
        days=WINDOW_DAYS,
        outbox_days=30,
        environment=Environment.DEVELOPMENT,
        **options,
    )


async def partition_of(pool: asyncpg.Pool, tx: str) -> str:
    name: str = await pool.fetchval(
        "SELECT tableoid::regclass::text FROM decisions WHERE provider_tx_id = $1", tx
    )
    return name


async def test_a_redelivery_of_a_key_decided_months_ago_replays_its_stored_answer(
    pool: asyncpg.Pool,
) -> None:
    player = await (Player(pool)).funded()
    tx = f"b-{player.user}"
    bet = webhook(WebhookKind.BET, player.user, tx, "1.00")
    first = await player.send(bet)
    await backdate(pool, tx, datetime.now(UTC) - timedelta(days=65))

    again = await player.send(bet)
    other = await player.send(webhook(WebhookKind.BET, player.user, tx, "2.00"))

    assert await partition_of(pool, tx) != await partition_of(pool, f"d-{player.user}")
    assert (first.outcome, first.status) == (Outcome.APPLIED, 200)
    assert (again.outcome, again.body) == (Outcome.REPLAYED, first.body)  # byte for byte
    assert other.status == 409  # another fingerprint for the same key
    assert await player.balance() == 100_00 - 1_00  # moved once


async def test_the_load_reads_the_key_and_then_the_one_partition_it_names(
    pool: asyncpg.Pool,
) -> None:
    """The batch's statement reads the key table only (no month of decisions, however many are
    kept); a key found names its month, and the stored answer is one probe of that partition's
    primary key."""
    player = await (Player(pool)).funded()
    tx = f"b-{player.user}"
    await player.send(webhook(WebhookKind.BET, player.user, tx, "1.00"))
    await backdate(pool, tx, datetime.now(UTC) - timedelta(days=95))

    async with pool.acquire() as conn:
        load_plan = await generic_plan(conn, store._LOAD)
        decided_at = await conn.fetchval(
            "SELECT decided_at FROM idempotency_keys WHERE provider_tx_id = $1", tx
        )
        month = store.month_of(decided_at)
        explained = await conn.fetchval(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {store.stored_sql(month)}",
            [decided_at],
            ["hypetech"],
            ["bet"],
            [tx],
        )
        state, _ = await store.load(
            conn, [webhook(WebhookKind.BET, player.user, tx, "1.00")], "parts", "t", [0]
        )
    probed = [
        n for n in nodes(json.loads(explained)[0]["Plan"]) if n.get("Relation Name") == "decisions"
    ]

    assert [n for n in load_plan if n.get("Relation Name") == "decisions"] == []
    assert "idempotency_keys" in {n.get("Relation Name") for n in load_plan}
    assert month == await partition_of(pool, tx)
    assert [(n["Partition"], n["Node Type"], n["Index Name"]) for n in probed] == [
        (month, "Index Scan", f"{month}_pkey")
    ]
    assert [n["Actual Rows"] for n in probed] == [1]
    assert set(state.decisions) == {Key("hypetech", "bet", tx)}


async def test_a_concurrent_duplicate_conflicts_on_the_key_table_across_months(
    pool: asyncpg.Pool,
) -> None:
    """Two writers decide the same new key at once; the first one's decision is then in an
    earlier month. The second one's decision would go to this month's partition, and its key
    still conflicts: the batch is refused whole, no money moves twice."""
    player = await (Player(pool)).funded()
    tx = f"b-{player.user}"
    bet = [webhook(WebhookKind.BET, player.user, tx, "1.00")]
    loaded = []
    for group in ("one", "two"):
        async with pool.acquire() as conn:
            await store.ensure_offsets(conn, group, "dup", {PARTITION: 0})
            state, _ = await store.load(conn, bet, group, "dup", [PARTITION])
        decision = decide(state, bet[0], POLICY)
        state.apply(decision)
        loaded.append((group, state, [(store.Source("dup", PARTITION), 0, bet[0], decision)]))

    async def write(group: str, state: Any, decided: Any) -> bool:
        offsets = store.Offsets(group, "dup", {PARTITION: 0}, {PARTITION: 1})
        async with pool.acquire() as conn:
            return await store.write(conn, state, decided, "events", offsets)

    assert await write(*loaded[0])
    await backdate(pool, tx, datetime.now(UTC) - timedelta(days=65))
    with pytest.raises(asyncpg.UniqueViolationError):
        await write(*loaded[1])
    # The key alone, in this month: the real unique index refuses it whatever its month (the
    # batch above also met the outbox's and transactions' indexes, derived from the key).
    with pytest.raises(asyncpg.UniqueViolationError) as refused:
        await pool.execute(
            "INSERT INTO idempotency_keys (provider, kind, provider_tx_id, operator_tx_id)"
            " VALUES ('hypetech', 'bet', $1, gen_random_uuid())",
            tx,
        )

    assert refused.value.constraint_name == "idempotency_keys_pkey"
    assert await pool.fetchval("SELECT count(*) FROM decisions WHERE provider_tx_id = $1", tx) == 1
    assert await player.balance() == 100_00 - 1_00


async def test_retention_drops_whole_months_and_leaves_nothing_before_the_cutoff(
    pool: asyncpg.Pool,
) -> None:
    player = await (Player(pool)).funded()
    now = datetime.now(UTC)
    cutoff = now - timedelta(days=WINDOW_DAYS)
    month_start = cutoff.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    old = {
        f"old1-{player.user}": cutoff - timedelta(days=100),
        f"old2-{player.user}": cutoff - timedelta(days=45),
        # the month the cutoff falls in: before it, and (in it or the next) after it
        f"edge-{player.user}": max(month_start, cutoff - timedelta(hours=1)),
        f"kept-{player.user}": cutoff + timedelta(hours=1),
    }
    for tx, when in old.items():
        await player.send(webhook(WebhookKind.BET, player.user, tx, "1.00"))
        await backdate(pool, tx, when)
    parts = {tx: await partition_of(pool, tx) for tx in old}

    async with pool.acquire() as conn:
        result = await retention(conn, now, batch_rows=2)
        months = {
            row[0]
            for row in await conn.fetch(
                "SELECT inhrelid::regclass::text FROM pg_inherits"
                " WHERE inhparent = 'decisions'::regclass"
            )
        }
        left = await conn.fetchval("SELECT count(*) FROM decisions WHERE decided_at < $1", cutoff)
        keys_left = await conn.fetchval(
            "SELECT count(*) FROM idempotency_keys WHERE decided_at < $1", cutoff
        )
        recorded = await conn.fetchrow(
            "SELECT decisions_deleted, partitions_dropped FROM retention_runs WHERE cutoff = $1",
            result.cutoff,
        )
        tables = await conn.fetchval(
            "SELECT count(*) FROM pg_class WHERE relname = ANY($1::text[])",
            [parts[f"old1-{player.user}"], parts[f"old2-{player.user}"]],
        )
    again = await player.send(webhook(WebhookKind.BET, player.user, f"old1-{player.user}", "1.00"))

    assert result.complete
    assert result.partitions_dropped >= 2
    assert parts[f"old1-{player.user}"] not in months
    assert parts[f"old2-{player.user}"] not in months
    assert tables == 0  # dropped, not only detached
    assert parts[f"edge-{player.user}"] in months  # the edge month is kept ...
    assert (left, keys_left) == (0, 0)  # ... without its rows before the cutoff
    assert await partition_of(pool, f"kept-{player.user}") == parts[f"kept-{player.user}"]
    assert tuple(recorded) == (result.decisions, result.partitions_dropped)
    assert result.decisions >= 3
    # The bets' money is kept; a redelivery of an expired key moves none again.
    assert again.status == 409
    assert await player.balance() == 100_00 - 4 * 1_00


async def test_a_decision_whose_month_has_no_partition_still_applies(infra: Stack) -> None:
    """This month's partition is gone (the hourly creation failed, say): the batch creates it
    and is written; nothing is refused or dead-lettered."""
    name = f"hypeledger_parts_{uuid.uuid4().hex[:10]}"
    async with migrated_database(infra.database_admin_url, name) as dsn:
        pool = await asyncpg.create_pool(
            dsn, min_size=1, max_size=2, server_settings=dict(store.KEY_LOOKUPS_ONLY)
        )
        try:
            month = await pool.fetchval(
                "SELECT 'decisions_' || to_char(now() AT TIME ZONE 'UTC', '\"y\"YYYY\"m\"MM')"
            )
            await pool.execute(f"ALTER TABLE decisions DETACH PARTITION {month}")
            await pool.execute(f"DROP TABLE {month}")
            player = Player(pool)

            created = await player.send(
                operator(OperatorKind.CREATE_ACCOUNT, player.user, f"c-{player.user}")
            )

            assert (created.outcome, created.status) == (Outcome.APPLIED, 200)
            assert await partition_of(pool, f"c-{player.user}") == month
            assert (
                await pool.fetchval(
                    "SELECT count(*) FROM idempotency_keys WHERE provider_tx_id = $1",
                    f"c-{player.user}",
                )
                == 1
            )
        finally:
            await pool.close()


async def test_the_audit_names_a_decision_without_its_key_and_a_key_without_its_decision(
    pool: asyncpg.Pool,
) -> None:
    player = await (Player(pool)).funded()
    keyless, lost = f"keyless-{player.user}", f"lost-{player.user}"
    await player.send(webhook(WebhookKind.BET, player.user, keyless, "1.00"))
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM idempotency_keys WHERE provider_tx_id = $1", keyless)
        await conn.execute(
            "INSERT INTO idempotency_keys (provider, kind, provider_tx_id, operator_tx_id)"
            " VALUES ('hypetech', 'bet', $1, gen_random_uuid())",
            lost,
        )
        report = await audit(conn, limit=1000)

    assert keyless in {row["provider_tx_id"] for row in report.violations["decision_has_its_key"]}
    assert lost in {row["provider_tx_id"] for row in report.violations["key_has_its_decision"]}


async def test_a_key_whose_decision_is_missing_stops_the_batch_as_not_understood(
    pool: asyncpg.Pool,
) -> None:
    """A key found without its decision row (a corrupted history, which the audit names) is not
    a new key: deciding it again would refuse the redelivery or dead-letter it. The batch stops
    with an error the consumer does not understand, and nothing is written."""
    player = await (Player(pool)).funded()
    tx = f"gone-{player.user}"
    bet = webhook(WebhookKind.BET, player.user, tx, "1.00")
    await player.send(bet)
    balance = await player.balance()
    await pool.execute("DELETE FROM decisions WHERE provider_tx_id = $1", tx)

    with pytest.raises(MissingDecision, match=tx) as raised:
        await player.send(bet)

    assert classify(raised.value) is ErrorClass.UNKNOWN
    assert await player.balance() == balance
    assert await pool.fetchval("SELECT count(*) FROM decisions WHERE provider_tx_id = $1", tx) == 0


async def test_retention_drops_a_month_a_stopped_run_detached_but_did_not_drop(
    pool: asyncpg.Pool,
) -> None:
    """A run stopped between its DETACH (committed on its own) and its DROP TABLE leaves a
    plain table that is no longer a partition: the next run drops it; a detached table of a
    month after the cutoff is left alone."""
    now = datetime.now(UTC)
    cutoff = now - timedelta(days=WINDOW_DAYS)
    old = datetime(cutoff.year - 2, 1, 15, tzinfo=UTC)
    recent = datetime(now.year + 2, 1, 15, tzinfo=UTC)
    async with pool.acquire() as conn:
        names = []
        for when in (old, recent):
            await conn.execute("SELECT decisions_add_months($1, $1)", when)
            name = store.month_of(when)
            await conn.execute(f'ALTER TABLE decisions DETACH PARTITION "{name}"')
            names.append(name)

        result = await retention(conn, now)
        left = {
            row[0]
            for row in await conn.fetch(
                "SELECT relname::text FROM pg_class WHERE relname = ANY($1::text[])", names
            )
        }
        await conn.execute(f'DROP TABLE IF EXISTS "{names[1]}"')

    assert left == {names[1]}
    assert result.partitions_dropped >= 1
