"""Operating the ledger: probes and metrics, and the retention job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from ledger_harness import Ledger, unique, webhook

from services.ledger.audit import audit
from services.ledger.retention import expire
from services.ledger.settings import RECORDS_RETENTION_DAYS, LedgerSettings
from shared.contracts.commands import WebhookKind
from shared.settings import Environment

#: The shipped retention, as ``hypeledger retention`` applies it by default.
FIVE_YEARS = {
    "days": LedgerSettings(environment=Environment.PRODUCTION).retention_days,
    "outbox_days": 30,
    "environment": Environment.PRODUCTION,
}


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


async def age_bet(ledger: Ledger, bet_tx_id: str, days: int = RECORDS_RETENTION_DAYS + 20) -> None:
    """Make a bet and its decision ``days`` old (by default past the five-year window)."""
    long_ago = datetime.now(UTC) - timedelta(days=days)
    await ledger.backdate_decision(bet_tx_id, long_ago)
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
        result = await expire(conn, now=datetime.now(UTC), **FIVE_YEARS)

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
        await expire(conn, now=datetime.now(UTC), **FIVE_YEARS)
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
        await expire(conn, now=datetime.now(UTC), **FIVE_YEARS)

    again = await ledger.send(bet)
    retried = await ledger.send(bet.model_copy(update={"received_at": datetime.now(UTC)}))
    later = await ledger.send(webhook(WebhookKind.BET, user, unique("b"), "2.00"))

    assert (again.status, again.json["type"].rsplit("/", 1)[-1]) == (409, "decision-expired")
    # It names the transaction that remains, the same whenever the retry was received.
    tx_id = await ledger.pool.fetchval(
        "SELECT operator_tx_id::text FROM transactions WHERE provider_tx_id = $1", old_tx
    )
    assert again.json["instance"] == f"urn:hypeledger:decision:{tx_id}"
    assert retried.body == again.body
    assert await ledger.decision("bet", old_tx) is None  # nothing stored for it
    assert later.status == 200  # the player's partition was not stopped
    assert await ledger.balance(user) == 7_00  # 10.00 - 1.00 once - 2.00


async def test_refuses_a_retention_window_under_180_days(ledger: Ledger) -> None:
    async with ledger.pool.acquire() as conn:
        with pytest.raises(ValueError, match="at least 180 days"):
            await expire(
                conn,
                now=datetime.now(UTC),
                days=30,
                outbox_days=30,
                environment=Environment.DEVELOPMENT,
            )


async def test_refuses_less_than_five_years_outside_development(ledger: Ledger) -> None:
    async with ledger.pool.acquire() as conn:
        for environment in (Environment.PRODUCTION, Environment.TEST):
            with pytest.raises(ValueError, match=f"at least {RECORDS_RETENTION_DAYS} days"):
                await expire(
                    conn,
                    now=datetime.now(UTC),
                    days=RECORDS_RETENTION_DAYS - 1,
                    outbox_days=30,
                    environment=environment,
                )


async def test_keeps_a_decision_of_four_years_and_a_refusal_by_default(ledger: Ledger) -> None:
    user = await ledger.player("1.00")
    kept, refused = unique("b"), unique("b")
    await ledger.send(webhook(WebhookKind.BET, user, kept, "1.00"))
    answer = await ledger.send(webhook(WebhookKind.BET, user, refused, "5.00"))
    await age_bet(ledger, kept, days=4 * 365)
    await ledger.backdate_decision(refused, datetime.now(UTC) - timedelta(days=4 * 365))
    async with ledger.pool.acquire() as conn:
        await expire(conn, now=datetime.now(UTC), **FIVE_YEARS)

    assert answer.status == 403
    assert await ledger.decision("bet", kept) is not None
    assert await ledger.decision("bet", refused) is not None


async def test_expires_in_batches_each_counted_in_the_run_as_it_commits(ledger: Ledger) -> None:
    user = await ledger.player("10.00")
    old = [unique("b") for _ in range(5)]
    for tx in old:
        await ledger.send(webhook(WebhookKind.BET, user, tx, "1.00"))
        await age_bet(ledger, tx)
    await ledger.pool.execute(
        "UPDATE outbox SET published_at = now() - interval '40 days' WHERE id IN"
        " (SELECT id FROM outbox ORDER BY id LIMIT 3)"
    )

    async with ledger.pool.acquire() as conn:
        result = await expire(conn, now=datetime.now(UTC), batch_rows=2, **FIVE_YEARS)
    recorded = await ledger.pool.fetchrow(
        "SELECT decisions_deleted, tombstones_deleted, outbox_deleted FROM retention_runs"
        " WHERE cutoff = $1",
        result.cutoff,
    )

    assert result.complete
    assert result.decisions >= 5
    assert result.outbox >= 3
    assert result.batches >= 3 + 1 + 2  # 5 decisions by 2, no tombstone, 3 outbox rows by 2
    assert tuple(recorded) == (result.decisions, result.tombstones, result.outbox)
    for tx in old:
        assert await ledger.decision("bet", tx) is None


async def test_a_run_out_of_time_stops_between_batches_and_says_so(ledger: Ledger) -> None:
    user = await ledger.player("10.00")
    old = unique("b")
    await ledger.send(webhook(WebhookKind.BET, user, old, "1.00"))
    await age_bet(ledger, old)

    async with ledger.pool.acquire() as conn:
        result = await expire(conn, now=datetime.now(UTC), max_seconds=0, **FIVE_YEARS)

    assert not result.complete
    assert (result.decisions, result.batches) == (0, 0)
    assert await ledger.decision("bet", old) is not None  # the next run deletes it
