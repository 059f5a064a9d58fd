"""``hypeledger simulator`` (run the Hypetech stand-in) and ``hypeledger verify-fairness``."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from services.cli.conventions import Generation


def register(app: typer.Typer) -> None:
    app.command("simulator")(simulator)
    app.command("verify-fairness")(verify_fairness)


def simulator(
    *,
    host: Annotated[str | None, typer.Option(help="Listen address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default 8090).")] = None,
    webhook_base_url: Annotated[
        str | None, typer.Option(help="Where the operator's webhooks are.")
    ] = None,
    generation: Annotated[
        Generation | None,
        typer.Option(case_sensitive=False, help="Doc generation of the webhooks."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of every random choice.")] = None,
) -> None:
    """Run the Hypetech simulator: REST API, crash game, webhooks (HYPELEDGER_SIMULATOR_*)."""
    from services.simulator.serve import serve  # noqa: PLC0415 - keep `hypeledger --help` fast
    from services.simulator.settings import SimulatorSettings  # noqa: PLC0415

    overrides: dict[str, Any] = {
        key: value
        for key, value in {
            "host": host,
            "port": port,
            "webhook_base_url": webhook_base_url,
            "generation": None if generation is None else generation.value,
            "seed": seed,
        }.items()
        if value is not None
    }
    serve(SimulatorSettings(**overrides))


def verify_fairness(
    *,
    export: Annotated[
        Path | None,
        typer.Option(help="A truth export (JSON from GET /_sim/truth) to check every round of."),
    ] = None,
    seed: Annotated[str | None, typer.Option(help="A revealed server seed (hex).")] = None,
    round_number: Annotated[
        int | None, typer.Option("--round", help="The round's number in the chain.")
    ] = None,
    seed_hash: Annotated[
        str | None, typer.Option(help="The seed hash published before the round.")
    ] = None,
    terminal_hash: Annotated[
        str | None, typer.Option(help="The chain's published terminal hash.")
    ] = None,
    crash_point: Annotated[
        str | None, typer.Option(help="The crash point the round announced, e.g. 2.35.")
    ] = None,
    salt: Annotated[str, typer.Option(help="The published salt.")] = "hypeledger-simulator",
    house_edge_bps: Annotated[int, typer.Option(help="House edge in basis points.")] = 100,
) -> None:
    """Re-derive crash points from revealed seeds and check them against the published hashes."""
    from services.simulator.fairness import verify_round  # noqa: PLC0415

    checks: list[dict[str, Any]] = []
    if export is not None:
        data = json.loads(export.read_text(encoding="utf-8"), parse_float=Decimal)
        fairness = data.get("fairness", {})
        salt = fairness.get("salt", salt)
        house_edge_bps = int(fairness.get("house_edge_bps", house_edge_bps))
        terminal = fairness.get("terminal_hash")
        for rnd in data.get("rounds", []):
            if rnd.get("seed"):
                checks.append(
                    {
                        "label": f"round {rnd['number']} ({rnd['round_id']})",
                        "seed": rnd["seed"],
                        "number": int(rnd["number"]),
                        "seed_hash": rnd.get("seed_hash"),
                        "terminal": terminal,
                        "crash": rnd.get("crash_point"),
                    }
                )
    elif seed is not None and round_number is not None:
        checks.append(
            {
                "label": f"round {round_number}",
                "seed": seed,
                "number": round_number,
                "seed_hash": seed_hash,
                "terminal": terminal_hash,
                "crash": crash_point,
            }
        )
    else:
        raise typer.BadParameter("give --export, or --seed and --round")
    failed = 0
    for check in checks:
        verdict = verify_round(
            seed=check["seed"],
            round_number=check["number"],
            published_seed_hash=check["seed_hash"],
            terminal_hash=check["terminal"],
            claimed_crash_point=None if check["crash"] is None else Decimal(str(check["crash"])),
            salt=salt,
            house_edge_bps=house_edge_bps,
        )
        if verdict.ok:
            typer.echo(f"ok    {check['label']}: crash {verdict.crash_point}x")
        else:
            failed += 1
            typer.echo(f"FAIL  {check['label']}: " + "; ".join(verdict.problems))
    typer.echo(f"{len(checks) - failed} of {len(checks)} rounds verified")
    if failed or not checks:
        raise typer.Exit(1)
