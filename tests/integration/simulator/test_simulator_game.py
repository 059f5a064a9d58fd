"""The simulator plays rounds against a reference operator over real HTTP and keeps its truth."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal

import pytest
from reference_operator import ReferenceOperator

from services.simulator.app import create_app
from services.simulator.serve import running
from services.simulator.settings import SimulatorSettings
from services.simulator.simulator import Simulator
from shared.contracts.commands import Generation
from shared.hypetech import CreateSessionRequest, HypetechClient
from shared.money import parse_minor

pytestmark = pytest.mark.integration

PLAYERS = 6


@asynccontextmanager
async def playing(
    settings: SimulatorSettings, operator: ReferenceOperator, players: int = PLAYERS
) -> AsyncIterator[Simulator]:
    app = create_app(settings)
    async with running(app) as base_url:
        async with HypetechClient(
            base_url=base_url, token="simulator-token", max_retries=0
        ) as client:
            for index in range(players):
                user = f"player-{index}"
                operator.balances[(user, "USD")] = parse_minor("100.00", "USD").minor
                await client.create_session(
                    CreateSessionRequest(
                        game="aviador",
                        user_id=user,
                        username=user,
                        currency="USD",
                        balance=Decimal(100),
                    )
                )
        yield app.state.simulator


def operator_balances_match(sim: Simulator, operator: ReferenceOperator) -> list[str]:
    return [
        f"{p.user_id}: {operator.balances[(p.user_id, p.currency)]} != {p.expected_operator_minor}"
        for p in sim.truth.players.values()
        if operator.balances[(p.user_id, p.currency)] != p.expected_operator_minor
    ]


@pytest.mark.parametrize("generation", list(Generation))
async def test_every_balance_matches_the_truth_after_rounds_in_each_generation(
    generation: Generation,
    operator: ReferenceOperator,
    simulator_settings: Callable[..., SimulatorSettings],
) -> None:
    settings = simulator_settings(generation=generation)

    async with playing(settings, operator) as sim:
        await sim.play(15)

    assert operator.bad_signatures == 0
    assert operator.applied["bet"] > 0
    assert operator_balances_match(sim, operator) == []


async def test_every_injected_fault_is_counted_and_balances_still_match(
    operator: ReferenceOperator, simulator_settings: Callable[..., SimulatorSettings]
) -> None:
    rate = Decimal("0.3")
    settings = simulator_settings(
        fault_duplicate=rate,
        fault_rollback_before_bet=Decimal(1),
        fault_lost_reply=rate,
        fault_drift=rate,
        fault_wrong_rollback_amount=Decimal(1),
    )

    async with playing(settings, operator) as sim:
        await sim.play(30)

    counts = sim.truth.fault_counts
    records: dict[str, int] = {}
    for record in sim.truth.faults:
        records[record.kind.value] = records.get(record.kind.value, 0) + 1
    assert records == dict(counts)
    assert {"duplicate", "lost_reply", "drift", "rollback_before_bet"} <= set(counts)
    assert operator_balances_match(sim, operator) == []


async def test_drifted_wins_are_recorded_as_success_but_never_sent(
    operator: ReferenceOperator, simulator_settings: Callable[..., SimulatorSettings]
) -> None:
    settings = simulator_settings(fault_drift=Decimal(1))

    async with playing(settings, operator) as sim:
        await sim.play(10)

    drifted = [tx for tx in sim.truth.transactions if "drift" in tx.faults]
    assert drifted
    assert all(tx.status.value == "SUCCESS" and not tx.delivered for tx in drifted)
    assert operator.received["win"] == 0
    assert all(("win", tx.tx_id) not in operator.seen_ids for tx in drifted)


async def test_a_lost_reply_is_sent_again_with_the_same_provider_tx_id(
    operator: ReferenceOperator, simulator_settings: Callable[..., SimulatorSettings]
) -> None:
    settings = simulator_settings(fault_lost_reply=Decimal(1))

    async with playing(settings, operator) as sim:
        await sim.play(3)

    lost = [tx for tx in sim.truth.transactions if "lost_reply" in tx.faults]
    assert lost
    for tx in lost:
        assert operator.seen_ids.count(("bet", tx.tx_id)) == 2
        assert tx.status.value == "SUCCESS"
    assert operator.applied["bet"] == len(
        {tx.tx_id for tx in sim.truth.transactions if tx.type.value == "BET"}
    )


async def test_a_bet_answered_with_5xx_is_retried_with_the_same_provider_tx_id(
    operator: ReferenceOperator, simulator_settings: Callable[..., SimulatorSettings]
) -> None:
    settings = simulator_settings()
    async with playing(settings, operator, players=1) as sim:
        first_id = str(int(sim.tx_ids.next()) + 1)
        operator.fail_first[first_id] = 2

        await sim.play(1)

    bet = sim.truth.find(sim.truth.transactions[0].type, first_id)
    assert bet is not None
    assert bet.attempts == 3
    assert operator.seen_ids.count(("bet", first_id)) == 3


async def test_a_rollback_sent_before_its_bet_gets_the_bet_refused(
    operator: ReferenceOperator, simulator_settings: Callable[..., SimulatorSettings]
) -> None:
    settings = simulator_settings(fault_rollback_before_bet=Decimal(1))

    async with playing(settings, operator) as sim:
        await sim.play(40)

    early = [tx for tx in sim.truth.transactions if "rollback_before_bet" in tx.faults]
    assert early
    assert all(tx.operator_status == 410 for tx in early)
    assert operator_balances_match(sim, operator) == []


async def test_the_same_seed_injects_the_same_faults_on_the_same_bets(
    operator: ReferenceOperator, simulator_settings: Callable[..., SimulatorSettings]
) -> None:
    rate = Decimal("0.2")
    settings = simulator_settings(fault_duplicate=rate, fault_lost_reply=rate, fault_drift=rate)
    runs = []
    for _ in range(2):
        operator.answers.clear()
        operator.bets.clear()
        async with playing(settings, operator) as sim:
            await sim.play(8)
        runs.append(
            [
                (tx.type.value, tx.user_id, tx.amount_minor, tuple(tx.faults))
                for tx in sorted(sim.truth.transactions, key=lambda t: (t.user_id, int(t.tx_id)))
            ]
        )

    assert runs[0] == runs[1]
    assert any(faults for *_, faults in runs[0])
