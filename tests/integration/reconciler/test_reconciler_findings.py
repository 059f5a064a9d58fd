"""Findings over the real money path: differences made on the operator's side, deduplication
across runs, publication on wallet.reconciliation.v1, and the lost bets of finished rounds settled."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from reconciler_stack import (  # type: ignore[import-not-found]
    expected_findings,
    faults,
    found,
    money_path,
    play,
    read_to_end,
)

from services.reconciler.app import build
from services.reconciler.runner import RunRequest
from shared.contracts.commands import Generation, WebhookEnvelope, WebhookKind
from shared.contracts.topics import RECONCILIATION

pytestmark = pytest.mark.integration

SCHEMA = json.loads(
    (
        Path(__file__).parents[3]
        / "shared"
        / "contracts"
        / "schemas"
        / "reconciliation_finding.v1.json"
    ).read_text()
)


def envelope(kind: WebhookKind, tx: str, user: str, token: str, **fields: Any) -> WebhookEnvelope:
    values: dict[str, Any] = {
        "kind": kind,
        "generation": Generation.V2,
        "provider": "hypetech",
        "provider_tx_id": tx,
        "user_id": user,
        "currency": "USD",
        "amount": Decimal("1.00"),
        "round_id": "r-operator-side",
        "session_token": token,
        "received_at": datetime.now(UTC),
    }
    values.update(fields)
    return WebhookEnvelope(**values)


async def published(settings: Any) -> list[dict[str, Any]]:
    return [json.loads(record.value) for record in await read_to_end(settings, RECONCILIATION)]


async def test_differences_made_on_the_operator_side_are_found_in_their_classes(
    infra: Any, common_env: dict[str, Any]
) -> None:
    async with money_path(
        infra, common_env, generation="v2", seed=7, **faults("0.2", ("drift",))
    ) as stack:
        await play(stack, players=4, rounds=20)
        truth = await stack.truth()
        expected = expected_findings(truth)
        drifted = next(f for f in truth["faults"]["records"] if f["kind"] == "drift")
        user, token = drifted["userId"], stack.sessions[int(drifted["userId"].rsplit("p", 1)[1])]
        lost = await stack.pool.fetchrow(
            "SELECT bet_tx_id, user_id, round_id FROM bets WHERE state = 'lost' LIMIT 1"
        )
        lost_token = stack.sessions[int(lost["user_id"].rsplit("p", 1)[1])]
        # a bet Hypetech never made; a bet under the id of Hypetech's unsent win; a rollback of a
        # bet Hypetech counts as lost
        sent = [
            envelope(WebhookKind.BET, "extra-1", user, token),
            envelope(WebhookKind.BET, drifted["transactionId"], user, token),
            envelope(
                WebhookKind.ROLLBACK,
                "extra-rollback-1",
                lost["user_id"],
                lost_token,
                round_id=lost["round_id"],
                linked_tx_id=lost["bet_tx_id"],
            ),
        ]
        for command in sent:
            assert (await stack.send(command)).status == 200
        expected -= {("missing_in_ledger", "win", drifted["transactionId"])}
        expected |= {
            ("missing_at_provider", "bet", "extra-1"),
            ("kind_mismatch", "win/bet", drifted["transactionId"]),
            ("status_mismatch", "bet", lost["bet_tx_id"]),
            ("missing_at_provider", "rollback", "extra-rollback-1"),
        }

        async with build(stack.reconciler_settings()) as app:
            await app.reconciler.run_once(RunRequest())

        findings = await found(stack)
        assert sorted(findings) == sorted(expected)


async def test_a_difference_found_again_is_the_same_finding_and_each_is_published_once(
    infra: Any, common_env: dict[str, Any]
) -> None:
    async with money_path(
        infra, common_env, generation="v2", seed=8, **faults("0.2", ("drift",))
    ) as stack:
        await play(stack, players=4, rounds=15)
        settings = stack.reconciler_settings()

        async with build(settings) as app:
            first = await app.reconciler.run_once(RunRequest())
            second = await app.reconciler.run_once(RunRequest())
        events = await published(settings)

        rows = await stack.pool.fetch(
            "SELECT finding_id, times_seen, first_run_id, last_run_id FROM reconciliation_findings"
        )
        assert rows, "the seed injected no difference to find"
        assert {(r["times_seen"], r["first_run_id"], r["last_run_id"]) for r in rows} == {
            (2, first.run_id, second.run_id)
        }
        assert sorted(e["finding_id"] for e in events) == sorted(r["finding_id"] for r in rows)
        for event in events:
            jsonschema.validate(event, SCHEMA)


async def test_a_status_change_is_recorded_with_its_author_and_published(
    infra: Any, common_env: dict[str, Any]
) -> None:
    async with money_path(
        infra, common_env, generation="v2", seed=9, **faults("0.2", ("drift",))
    ) as stack:
        await play(stack, players=3, rounds=15)
        settings = stack.reconciler_settings()

        async with build(settings) as app:
            await app.reconciler.run_once(RunRequest())
            finding_id = await stack.pool.fetchval(
                "SELECT min(finding_id) FROM reconciliation_findings"
            )
            await app.store.set_status([finding_id], "ignored", "alice", "known provider drift")
            await app.reconciler.run_once(RunRequest())
        events = await published(settings)

        row = await stack.pool.fetchrow(
            "SELECT status, version, status_changed_by, status_reason FROM reconciliation_findings"
            " WHERE finding_id = $1",
            finding_id,
        )
        change = await stack.pool.fetchrow(
            "SELECT from_status, to_status, changed_by FROM reconciliation_finding_changes"
            " WHERE finding_id = $1 AND version = 2",
            finding_id,
        )
        assert tuple(row) == ("ignored", 2, "alice", "known provider drift")
        assert tuple(change) == ("open", "ignored", "alice")
        assert [e["status"] for e in events if e["finding_id"] == finding_id] == ["open", "ignored"]


async def test_the_lost_bets_of_finished_rounds_are_settled_not_reported(
    infra: Any, common_env: dict[str, Any]
) -> None:
    async with money_path(infra, common_env, generation="v4", seed=10) as stack:
        await play(stack, players=3, rounds=15)
        open_before = await stack.pool.fetchval("SELECT count(*) FROM bets WHERE state = 'open'")
        balances = await stack.pool.fetch(
            "SELECT user_id, currency, balance FROM accounts ORDER BY 1, 2"
        )

        async with build(stack.reconciler_settings()) as app:
            await app.reconciler.run_once(RunRequest())
            await app.reconciler.run_once(RunRequest(since=datetime(2000, 1, 1, tzinfo=UTC)))
            settled = app.metrics.bets_settled_lost._value.get()
        commands = await stack.pool.fetch(
            "SELECT s.reply_status, d.status, d.provider_tx_id FROM reconciler_round_settlements s"
            " LEFT JOIN decisions d ON d.provider = 'operator' AND d.kind = 'settle_lost'"
            "  AND d.provider_tx_id = s.idempotency_key"
        )

        assert open_before > 0, "every bet won: nothing to settle"
        assert await found(stack) == []
        assert await stack.pool.fetchval("SELECT count(*) FROM bets WHERE state = 'open'") == 0
        assert settled == open_before, "each bet settled once, though its round was seen twice"
        assert {(r[0], r[1]) for r in commands} == {(200, 200)}
        assert all(r[2].startswith("round-finished:") for r in commands)
        assert (
            await stack.pool.fetch("SELECT user_id, currency, balance FROM accounts ORDER BY 1, 2")
            == balances
        )


async def test_with_settling_off_the_open_bets_of_finished_rounds_are_findings(
    infra: Any, common_env: dict[str, Any]
) -> None:
    async with money_path(infra, common_env, generation="v4", seed=10) as stack:
        await play(stack, players=3, rounds=15)
        open_before = await stack.pool.fetchval("SELECT count(*) FROM bets WHERE state = 'open'")

        settings = stack.reconciler_settings(settle_lost_on_finished_rounds=False)
        async with build(settings) as app:
            await app.reconciler.run_once(RunRequest())

        reported = await found(stack, "open")
        assert open_before > 0
        assert {r[0] for r in reported} == {"open_bet_on_finished_round"}
        assert len(reported) == open_before


def first_session_with_differences(
    stack: Any, truth: dict[str, Any], players: int
) -> tuple[str, set[Any]]:
    """The first session whose player has injected differences, with those expected findings."""
    expected = expected_findings(truth)
    for i, session in enumerate(stack.sessions[:players]):
        user = f"{stack.prefix}p{i}"
        ids = {t["transactionId"] for t in truth["transactions"] if t["userId"] == user}
        mine = {finding for finding in expected if finding[2] in ids}
        if mine:
            return session, mine
    return stack.sessions[0], set()


async def test_a_run_for_one_session_checks_only_it_and_leaves_the_watermark(
    infra: Any, common_env: dict[str, Any]
) -> None:
    async with money_path(
        infra, common_env, generation="v2", seed=13, **faults("0.3", ("drift",))
    ) as stack:
        await play(stack, players=3, rounds=15)
        truth = await stack.truth()
        # Crash points (so which bets win, and so where drift lands) vary between runs: check the
        # first session that has an injected difference.
        session, expected = first_session_with_differences(stack, truth, players=3)

        async with build(stack.reconciler_settings()) as app:
            report = await app.reconciler.run_once(RunRequest(session=session))

        assert expected, "the seed injected no difference in any session"
        assert report.sessions_total == 1
        assert set(await found(stack)) == expected
        assert await stack.pool.fetchval("SELECT count(*) FROM reconciliation_watermarks") == 0
