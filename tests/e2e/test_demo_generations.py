"""The whole stack, started as processes, played by the simulator in every doc generation, with
faults injected, checked to the cent against the simulator's truth and reconciled."""

from __future__ import annotations

import os
import shutil

import pytest
from rich.console import Console

from services.demo.run import DemoOptions, run_demo

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("generation", ["v1", "v2", "v3", "v4"])
async def test_a_faulty_run_matches_the_truth_in_every_generation(generation: str) -> None:
    options = DemoOptions(players=6, rounds=8, generation=generation, seed=11)

    result = await run_demo(options, Console(quiet=True), dict(os.environ))
    if result.run_dir is not None:
        shutil.rmtree(result.run_dir, ignore_errors=True)

    assert result.mismatches == []
    assert result.clean_shutdown, result.shutdown
    assert sum(result.truth["faults"]["counts"].values()) > 0
    assert result.status["rounds_played"] == 8


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
