"""A finding's status changes through one statement (shared/db/findings.py), for the reconciler
and the operator API alike: each change is recorded with the status the finding really had, even
when another change committed while it waited for the finding's lock."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from shared.db import findings
from tests.integration.stored_findings import a_finding

pytestmark = pytest.mark.integration


async def changes(db_pool: asyncpg.Pool, finding_id: int) -> list[tuple[int, str | None, str]]:
    rows = await db_pool.fetch(
        "SELECT version, from_status, to_status FROM reconciliation_finding_changes"
        " WHERE finding_id = $1 ORDER BY version",
        finding_id,
    )
    return [(row["version"], row["from_status"], row["to_status"]) for row in rows]


async def test_a_change_that_waited_for_the_lock_records_the_status_committed_meanwhile(
    db_pool: asyncpg.Pool,
) -> None:
    finding_id = await a_finding(db_pool, "s1")

    async with db_pool.acquire() as operator, db_pool.acquire() as reconciler:
        first = operator.transaction()
        await first.start()
        await findings.set_status(operator, [finding_id], "ignored", "alice", "known drift")
        waiting = asyncio.create_task(
            findings.set_status(reconciler, [finding_id], "resolved", "reconciler", "gone")
        )
        await asyncio.sleep(0.3)
        assert not waiting.done()  # it waits for the operator's lock
        await first.commit()
        changed = await asyncio.wait_for(waiting, timeout=10)

    assert changed == [finding_id]
    assert await changes(db_pool, finding_id) == [
        (2, "open", "ignored"),
        (3, "ignored", "resolved"),
    ]
    row = await db_pool.fetchrow(
        "SELECT status, version, status_changed_by FROM reconciliation_findings"
        " WHERE finding_id = $1",
        finding_id,
    )
    assert dict(row) == {"status": "resolved", "version": 3, "status_changed_by": "reconciler"}


async def test_a_finding_already_in_the_status_is_left_alone(db_pool: asyncpg.Pool) -> None:
    open_one, resolved_one = await a_finding(db_pool, "s1"), await a_finding(db_pool, "s1")
    async with db_pool.acquire() as conn:
        await findings.set_status(conn, [resolved_one], "resolved", "alice", None)

        changed = await findings.set_status(
            conn, [resolved_one, open_one], "resolved", "reconciler", "gone"
        )

    assert changed == [open_one]
    assert await changes(db_pool, resolved_one) == [(2, "open", "resolved")]
    assert await changes(db_pool, open_one) == [(2, "open", "resolved")]


async def test_no_ids_change_nothing(db_pool: asyncpg.Pool) -> None:
    async with db_pool.acquire() as conn:
        assert await findings.set_status(conn, [], "resolved", "reconciler", None) == []
