"""``hypeledger demo``: start everything, play rounds with faults, check every cent, reconcile."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
from typing import Annotated

import typer

from services.cli.conventions import Generation


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    *,
    players: Annotated[int, typer.Option(help="Players, each with an account and a session.")] = 20,
    rounds: Annotated[int, typer.Option(help="Rounds to play.")] = 30,
    generation: Annotated[
        Generation,
        typer.Option(case_sensitive=False, help="Doc generation of the webhooks."),
    ] = Generation.V4,
    seed: Annotated[int, typer.Option(help="Seed of the simulator's random choices.")] = 2026,
    free_bets: Annotated[int, typer.Option(help="Free bets granted to each player.")] = 2,
    no_faults: Annotated[bool, typer.Option("--no-faults", help="Inject no faults.")] = False,
    keep_logs: Annotated[
        bool, typer.Option("--keep-logs", help="Keep the services' logs and the truth export.")
    ] = False,
) -> None:
    """Run the whole system on this machine and check it against the simulator's truth."""
    from rich.console import Console  # noqa: PLC0415 - keep `hypeledger --help` fast

    from services.demo.run import DemoOptions, run_demo, summary  # noqa: PLC0415

    options = DemoOptions(
        players=players,
        rounds=rounds,
        generation=generation.value,
        seed=seed,
        free_bets=free_bets,
    )
    if no_faults:
        options = dataclasses.replace(options, faults={})
    console = Console()
    result = asyncio.run(run_demo(options, console, dict(os.environ)))
    console.print()
    console.print(summary(result, options))
    for mismatch in result.mismatches[:50]:
        console.print(f"[red]{mismatch.area}[/] {mismatch.subject}: {mismatch.detail}")
    if len(result.mismatches) > 50:
        console.print(f"... and {len(result.mismatches) - 50} more")
    if not result.ok:
        console.print(f"logs and the truth export are kept in {result.run_dir}")
        raise typer.Exit(1)
    if keep_logs:
        console.print(f"logs and the truth export: {result.run_dir}")
    elif result.run_dir is not None:
        shutil.rmtree(result.run_dir, ignore_errors=True)
