"""The ledger's statements and retention's batches stay index probes on a database that has grown
and been analysed (as autovacuum does), not only on an empty one (``test_ledger_plans.py``).

A plan that reads a table whole is cheap on a small table and is what degrades with size; these
tests catch it by the plan's shape on a table of moderate size, not by timing: 20,000 bets of
history (decisions in their monthly partitions with their keys, transactions, postings, bets;
``bench/ledger_history.py``, the seed the growth benchmark uses) aged past a 180-day window,
then ANALYZE.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from test_ledger_plans import STATEMENTS, generic_plan, nodes

from bench.ledger_history import SEEDED, seed_history
from services.ledger import retention, store

pytestmark = pytest.mark.integration

HISTORY_DAYS, PER_DAY, AGE_DAYS = 20, 1000, 181


@pytest.fixture(scope="module")
async def seeded(own_db: str) -> str:
    await seed_history(own_db, HISTORY_DAYS, PER_DAY, age_days=AGE_DAYS)
    return own_db


@pytest.fixture
async def grown(seeded: str) -> AsyncIterator[asyncpg.Connection]:
    """20,000 bets of history past a 180-day window, analysed; a connection with the ledger's
    session settings. The tables the seed leaves empty (limits, grants, round locks) are
    analysed as empty, and a scan of an empty table is the right plan until they grow (an
    ANALYZE then makes Postgres plan again): only the grown tables are checked."""
    connection = await asyncpg.connect(seeded, server_settings=dict(store.KEY_LOOKUPS_ONLY))
    try:
        yield connection
    finally:
        await connection.close()


async def test_the_hot_statements_read_grown_tables_by_key_only(
    grown: asyncpg.Connection,
) -> None:
    assert await grown.fetchval("SELECT reltuples FROM pg_class WHERE relname = 'decisions'") >= (
        HISTORY_DAYS * PER_DAY
    )
    # The months the history is in; the others (this month, the next) are empty, analysed as
    # such, and scanning an empty partition is as right as scanning an empty table (autovacuum
    # analyses a partition again after its first 50 rows, and the plan is made again).
    grown_months = {
        row[0]
        for row in await grown.fetch("SELECT DISTINCT tableoid::regclass::text FROM decisions")
    }
    for statement in sorted(STATEMENTS):
        plan = await generic_plan(grown, STATEMENTS[statement])

        scanned = {
            n.get("Relation Name")
            for n in plan
            if n["Node Type"] == "Seq Scan" and n.get("Partition") in {None, *grown_months}
        }
        assert scanned & {*SEEDED, "accounts"} == set(), (statement, plan)
        assert {n["Node Type"] for n in plan} & {"Hash Join", "Merge Join"} == set(), plan


async def explain(
    conn: asyncpg.Connection, sql: str, *args: Any, analyze: bool = False
) -> list[dict[str, Any]]:
    """Every node of the plan of ``sql`` (``analyze``: ``sql`` starts with its EXPLAIN options
    and runs)."""
    import json  # noqa: PLC0415

    explained = await conn.fetchval(
        f"EXPLAIN {sql}" if analyze else f"EXPLAIN (FORMAT JSON) {sql}", *args
    )
    return list(nodes(json.loads(explained)[0]["Plan"]))


@pytest.mark.parametrize("table", ["keys", "edge"])
async def test_a_retention_batch_takes_the_oldest_rows_through_the_time_index(
    grown: asyncpg.Connection, table: str
) -> None:
    """Every row of the table is past the cutoff: the batch must still read only its own rows,
    in time order from the index, and delete them by ctid, not scan and sort the table. The
    keys' batch runs on idempotency_keys, the edge month's on its partition of decisions."""
    month = await grown.fetchval(
        "SELECT tableoid::regclass::text FROM decisions ORDER BY decided_at LIMIT 1"
    )
    if table == "keys":
        _, batch = retention._BATCHES[table]
        relation, time_index = "idempotency_keys", "idempotency_keys_decided_at"
    else:
        batch = retention._edge_batch(month)
        relation, time_index = "decisions", f"{month}_pkey"
    cutoff = datetime.now(UTC) - timedelta(days=180)
    since = datetime.min.replace(tzinfo=UTC)

    plan = await explain(grown, batch, cutoff, since, retention.BATCH_ROWS // 10)

    assert {n.get("Relation Name") for n in plan if n["Node Type"] == "Seq Scan"} == set(), plan
    assert [n["Node Type"] for n in plan if n.get("Relation Name") == relation].count(
        "Tid Scan"
    ) == 1, plan
    assert [n.get("Index Name") for n in plan if n["Node Type"] == "Index Scan"] == [time_index], (
        plan
    )


async def test_a_stored_answer_is_one_probe_of_its_month_in_a_grown_history(
    grown: asyncpg.Connection,
) -> None:
    """The oldest and the newest seeded keys: each key's stored answer is read from the one
    monthly partition its idempotency_keys row names, by that partition's primary key."""
    oldest, newest = await grown.fetch(
        "(SELECT * FROM idempotency_keys ORDER BY decided_at LIMIT 1) UNION ALL"
        " (SELECT * FROM idempotency_keys ORDER BY decided_at DESC LIMIT 1)"
    )
    for key in (oldest, newest):
        month = store.month_of(key["decided_at"])
        plan = await explain(
            grown,
            f"(ANALYZE, FORMAT JSON) {store.stored_sql(month)}",
            [key["decided_at"]],
            [key["provider"]],
            [key["kind"]],
            [key["provider_tx_id"]],
            analyze=True,
        )
        probed = [n for n in plan if n.get("Relation Name") == "decisions"]

        assert [(n["Partition"], n["Node Type"]) for n in probed] == [(month, "Index Scan")], plan
        assert [n["Index Name"] for n in probed] == [f"{month}_pkey"], plan
        assert [n["Actual Rows"] for n in probed] == [1], plan
