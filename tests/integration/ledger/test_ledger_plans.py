"""The ledger's statements stay index probes per key, whatever the statistics say, and are
planned once per connection, not once per batch.

The ledger's connections run with ``plan_cache_mode = force_generic_plan``: each prepared
statement gets one generic plan, re-made only when statistics change. A plan made while the
tables were empty (a fresh database, never analysed: the worst case, and the one a server with
autovacuum off never leaves) must not scan a table per batch: these tests ask for exactly that
plan on a fresh database, with the ledger's own session settings.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from ledger_harness import operator, webhook

from services.ledger import store
from services.ledger.app import policy_of
from services.ledger.faults import Faults
from services.ledger.settings import LedgerSettings
from services.ledger.unit_of_work import Entry, UnitOfWork
from shared.contracts.commands import OperatorKind, WebhookKind
from shared.db.pool import create_pool

pytestmark = pytest.mark.integration

#: Tables that grow with every webhook or every player: never read whole by the hot path.
GROWING = {
    "accounts",
    "bets",
    "decisions",
    "free_bet_grants",
    "idempotency_keys",
    "limit_totals",
    "player_exclusions",
    "player_limits",
    "postings",
    "protection_changes",
    "rollback_tombstones",
    "round_locks",
    "sessions",
    "transactions",
}

STATEMENTS = {
    "load": store._LOAD,
    "round_locks": store._ROUND_LOCKS,
    "write": store._WRITE,
    # A redelivered key's stored answer, from the month its key names (this month's here).
    "stored": store.stored_sql(store.month_of(datetime.now(UTC))),
}


@pytest.fixture
async def ledger_conn(own_db: str) -> AsyncIterator[asyncpg.Connection]:
    """On a database of this module's own, migrated, empty and never analysed: a connection
    with the session settings the ledger's pool gives its connections."""
    connection = await asyncpg.connect(own_db, server_settings=dict(store.KEY_LOOKUPS_ONLY))
    try:
        yield connection
    finally:
        await connection.close()


#: A monthly partition of decisions (migration 0038), named for the table in these checks.
MONTH = re.compile(r"^(decisions)_y\d{4}m\d{2}$")


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of ``plan``; a node on a partition of decisions names ``decisions``, with the
    partition under "Partition"."""
    if (month := MONTH.match(plan.get("Relation Name", ""))) is not None:
        plan = {**plan, "Relation Name": month.group(1), "Partition": plan["Relation Name"]}
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


async def generic_plan(conn: asyncpg.Connection, sql: str) -> list[dict[str, Any]]:
    """Every node of the generic plan Postgres would cache for ``sql``."""
    types = [t.name for t in (await conn.prepare(sql)).get_parameters()]
    name = f"plan_{uuid.uuid4().hex[:8]}"
    await conn.execute(f"PREPARE {name} ({', '.join(types)}) AS {sql}")
    await conn.execute("SET plan_cache_mode = force_generic_plan")
    try:
        nulls = ", ".join("NULL" for _ in types)
        explained = await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE {name} ({nulls})")
    finally:
        await conn.execute("RESET plan_cache_mode")
        await conn.execute(f"DEALLOCATE {name}")
    return list(nodes(json.loads(explained)[0]["Plan"]))


@pytest.mark.parametrize("statement", sorted(STATEMENTS))
async def test_reads_growing_tables_by_key_only(
    ledger_conn: asyncpg.Connection, statement: str
) -> None:
    plan = await generic_plan(ledger_conn, STATEMENTS[statement])

    scanned = {n.get("Relation Name") for n in plan if n["Node Type"] == "Seq Scan"}
    hashed = [n["Subplan Name"] for n in plan if "hashed" in n.get("Subplan Name", "")]
    assert scanned & GROWING == set(), plan
    assert {n["Node Type"] for n in plan} & {"Hash Join", "Merge Join"} == set(), plan
    assert hashed == [], plan


async def test_the_load_needs_no_session_setting(own_db: str) -> None:
    """The load's LATERAL parts are index probes by construction, not by the join settings."""
    conn = await asyncpg.connect(own_db)
    try:
        plan = await generic_plan(conn, store._LOAD)
    finally:
        await conn.close()

    assert [n["Relation Name"] for n in plan if n["Node Type"] == "Seq Scan"] == []
    assert [n for n in plan if "hashed" in n.get("Subplan Name", "")] == []


async def test_one_command_batches_reuse_one_plan_per_statement(own_db: str) -> None:
    """At low rates every batch holds one command. Left to choose, Postgres planned the load
    afresh for each of them (a custom plan per execution, three times the Postgres CPU of a
    one-command batch): with the ledger's settings every statement it runs again is taken from
    the plan cache."""
    pool = await create_pool(own_db, min_size=1, max_size=1, server_settings=store.KEY_LOOKUPS_ONLY)
    user = f"plans-{uuid.uuid4().hex[:8]}"
    unit = UnitOfWork(
        pool,
        group="plans",
        topic=f"plans-{user}",
        events_topic="events",
        policy=policy_of(LedgerSettings(environment="test")),
        faults=Faults(),
    )
    commands = [
        operator(OperatorKind.CREATE_ACCOUNT, user, f"c-{user}"),
        operator(OperatorKind.DEPOSIT, user, f"d-{user}", "100.00"),
        *(webhook(WebhookKind.BET, user, f"b{n}", "1.00", round_id=f"r{n}") for n in range(10)),
    ]
    try:
        for offset, command in enumerate(commands):
            await unit.apply([Entry(0, offset, command, None)])
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
                " WHERE generic_plans + custom_plans >= 10"
            )
    finally:
        await pool.close()

    assert any("provider_tx_id" in row["statement"] for row in rows), rows  # the load ran
    assert [row["statement"][:80] for row in rows if row["custom_plans"]] == []
