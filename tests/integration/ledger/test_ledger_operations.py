"""Operating the ledger: probes and metrics, and the retention job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from ledger_harness import Ledger, unique, webhook

from services.ledger.audit import audit
from services.ledger.retention import expire
from shared.contracts.commands import WebhookKind


async def test_serves_health_readiness_and_decision_metrics(ledger: Ledger) -> None:
    user = await ledger.player("10.00")
    await ledger.send(webhook(WebhookKind.BET, user, unique("b"), "1.00"))
    base = f"http://127.0.0.1:{ledger.settings.metrics_port}"

    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        health = await client.get("/healthz")
        ready = await client.get("/readyz")
        metrics = await client.get("/metrics")

    assert (health.status_code, ready.status_code) == (200, 200)
    assert ready.json()["checks"] == {"database": True, "consumer": True}
    assert 'hypeledger_ledger_decisions_total{kind="bet",outcome="applied"}' in metrics.text
    assert "hypeledger_ledger_consumer_lag" in metrics.text


async def backdate_bet(ledger: Ledger, bet_tx_id: str, when: datetime) -> None:
    """Fabricate history: bets are immutable but for their state (a trigger refuses any other
    update), so the arrange step bypasses triggers for this one statement."""
    async with ledger.pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute("UPDATE bets SET created_at = $2 WHERE bet_tx_id = $1", bet_tx_id, when)


async def age_bet(ledger: Ledger, bet_tx_id: str) -> None:
    """Make a bet and its decision 200 days old: past the 180-day retention window."""
    long_ago = datetime.now(UTC) - timedelta(days=200)
    await ledger.pool.execute(
        "UPDATE decisions SET decided_at = $2 WHERE provider_tx_id = $1", bet_tx_id, long_ago
    )
    await backdate_bet(ledger, bet_tx_id, long_ago)


async def test_expires_keys_and_tombstones_past_the_window_and_records_the_run(
    ledger: Ledger,
) -> None:
    user = await ledger.player("10.00")
    old_tx, new_tx = unique("b"), unique("b")
    await ledger.send(webhook(WebhookKind.BET, user, old_tx, "1.00"))
    await ledger.send(webhook(WebhookKind.BET, user, new_tx, "1.00"))
    await age_bet(ledger, old_tx)

    async with ledger.pool.acquire() as conn:
        result = await expire(conn, now=datetime.now(UTC), days=180)

    assert result.decisions >= 1
    assert await ledger.decision("bet", old_tx) is None
    assert await ledger.decision("bet", new_tx) is not None
    assert (
        await ledger.count("SELECT count(*) FROM transactions WHERE provider_tx_id = $1", old_tx)
        == 1
    )
    assert (
        await ledger.count("SELECT count(*) FROM retention_runs WHERE cutoff = $1", result.cutoff)
        == 1
    )


async def test_audit_accepts_bets_whose_keys_retention_expired(ledger: Ledger) -> None:
    user = await ledger.player("10.00")
    old_tx = unique("b")
    await ledger.send(webhook(WebhookKind.BET, user, old_tx, "1.00"))
    await age_bet(ledger, old_tx)
    async with ledger.pool.acquire() as conn:
        await expire(conn, now=datetime.now(UTC), days=180)
        report = await audit(conn, limit=1000)

    assert old_tx not in {row["bet_tx_id"] for row in report.violations["bet_without_decision"]}


async def test_a_redelivery_after_retention_is_refused_and_the_partition_goes_on(
    ledger: Ledger,
) -> None:
    user = await ledger.player("10.00")
    old_tx = unique("b")
    bet = webhook(WebhookKind.BET, user, old_tx, "1.00")
    await ledger.send(bet)
    await age_bet(ledger, old_tx)
    async with ledger.pool.acquire() as conn:
        await expire(conn, now=datetime.now(UTC), days=180)

    again = await ledger.send(bet)
    later = await ledger.send(webhook(WebhookKind.BET, user, unique("b"), "2.00"))

    assert (again.status, again.json["type"].rsplit("/", 1)[-1]) == (409, "decision-expired")
    assert await ledger.decision("bet", old_tx) is None  # nothing stored for it
    assert later.status == 200  # the player's partition was not stopped
    assert await ledger.balance(user) == 7_00  # 10.00 - 1.00 once - 2.00


async def test_refuses_a_retention_window_under_180_days(ledger: Ledger) -> None:
    async with ledger.pool.acquire() as conn:
        with pytest.raises(ValueError, match="at least 180 days"):
            await expire(conn, now=datetime.now(UTC), days=30)
