"""``hypeledger verify-fairness`` re-derives every round of a played run; a changed seed fails."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from reference_operator import ReferenceOperator
from typer.testing import CliRunner

from services.cli.main import app as cli
from services.simulator.app import create_app
from services.simulator.serve import running
from services.simulator.settings import SimulatorSettings

pytestmark = pytest.mark.integration


@pytest.fixture
async def exported_run(
    tmp_path: Path,
    operator: ReferenceOperator,
    simulator_settings: Callable[..., SimulatorSettings],
) -> Path:
    app = create_app(simulator_settings())
    headers = {"Authorization": "Bearer simulator-token"}
    async with (
        running(app) as base_url,
        httpx.AsyncClient(base_url=base_url, headers=headers) as http,
    ):
        operator.balances[("p1", "USD")] = 10_000
        created = await http.post(
            "/games/request-access",
            json={
                "game": "rocket",
                "user_id": "p1",
                "username": "p1",
                "currency": "USD",
                "balance": 100,
            },
        )
        created.raise_for_status()
        played = await http.post("/_sim/play", json={"rounds": 12})
        played.raise_for_status()
        truth = await http.get("/_sim/truth")
    path = tmp_path / "truth.json"
    path.write_text(truth.text, encoding="utf-8")
    return path


def test_every_round_of_a_played_run_verifies(exported_run: Path) -> None:
    result = CliRunner().invoke(cli, ["verify-fairness", "--export", str(exported_run)])

    assert result.exit_code == 0, result.output
    assert "12 of 12 rounds verified" in result.output


def test_a_run_with_one_changed_seed_fails_verification(exported_run: Path) -> None:
    data = json.loads(exported_run.read_text(encoding="utf-8"))
    seed = data["rounds"][5]["seed"]
    data["rounds"][5]["seed"] = ("0" if seed[0] != "0" else "1") + seed[1:]
    exported_run.write_text(json.dumps(data), encoding="utf-8")

    result = CliRunner().invoke(cli, ["verify-fairness", "--export", str(exported_run)])

    assert result.exit_code == 1
    assert "11 of 12 rounds verified" in result.output
