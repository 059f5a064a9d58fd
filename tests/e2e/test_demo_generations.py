"""The whole stack, started as processes, played by the simulator in every doc generation, with
faults injected, checked to the cent against the simulator's truth and reconciled.

The runs in each generation use the test run's Postgres server and broker (named in the
environment, as an operator's own servers are), each with a fresh database and topics of its
own, which it deletes at its end; the run at the demo's defaults chooses its servers as
``make demo`` does (its own, unless the environment names some).
"""

from __future__ import annotations

import os
import shutil

import pytest
from rich.console import Console

from services.demo.run import DemoOptions, run_demo
from shared.infra.selection import (
    BOOTSTRAP_SERVERS,
    BROKER_OVERRIDE,
    DATABASE_URL,
    FLAVOUR,
    POSTGRES_OVERRIDE,
    POSTGRES_OVERRIDE_ALIAS,
    BrokerSource,
    PostgresSource,
)
from shared.infra.stack import Stack
from shared.kafka import topics_starting_with
from shared.settings import BrokerFlavour, CommonSettings

pytestmark = pytest.mark.e2e


def on_the_runs_servers(infra: Stack) -> dict[str, str]:
    """The environment with the test run's servers in it, chosen over anything else the
    environment asks for (``shared.infra.selection``)."""
    env = {k: v for k, v in os.environ.items() if k != POSTGRES_OVERRIDE_ALIAS}
    return {
        **env,
        POSTGRES_OVERRIDE: PostgresSource.ENV.value,
        BROKER_OVERRIDE: BrokerSource.ENV.value,
        DATABASE_URL: infra.database_admin_url,
        BOOTSTRAP_SERVERS: infra.kafka_bootstrap_servers,
        FLAVOUR: infra.kafka_flavour.value,
    }


async def topics_of_demo_runs(infra: Stack) -> list[str]:
    settings = CommonSettings(
        database_url=infra.database_admin_url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        kafka_flavour=BrokerFlavour(infra.kafka_flavour.value),
    )
    return await topics_starting_with(settings, "demo-")


@pytest.mark.parametrize("generation", ["v1", "v2", "v3", "v4"])
async def test_a_faulty_run_matches_the_truth_in_every_generation(
    generation: str, infra: Stack
) -> None:
    options = DemoOptions(players=6, rounds=8, generation=generation, seed=11)

    result = await run_demo(options, Console(quiet=True), on_the_runs_servers(infra))
    if result.run_dir is not None:
        shutil.rmtree(result.run_dir, ignore_errors=True)

    assert result.mismatches == []
    assert result.clean_shutdown, result.shutdown
    assert sum(result.truth["faults"]["counts"].values()) > 0
    assert result.status["rounds_played"] == 8
    assert await topics_of_demo_runs(infra) == []  # servers that outlive a run keep none of it


async def test_the_demo_at_its_defaults_matches_the_truth() -> None:
    """What ``make demo`` runs: its default scale (more players at once than the services'
    connection pools hold) must pass too, not only the small runs above."""
    options = DemoOptions()

    result = await run_demo(options, Console(quiet=True), dict(os.environ))
    if result.run_dir is not None:
        shutil.rmtree(result.run_dir, ignore_errors=True)

    assert result.mismatches == []
    assert result.clean_shutdown, result.shutdown
    assert result.status["rounds_played"] == options.rounds
