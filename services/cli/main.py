"""The ``hypeledger`` command. Each area registers its commands from its own module here;
service code is imported inside each command, so ``hypeledger --help`` stays fast."""

from __future__ import annotations

from typing import Annotated

import typer

from services.cli import (
    demo,
    infra,
    ingress,
    ledger,
    maintenance,
    operator,
    protection,
    reconciler,
    simulator,
)

app = typer.Typer(
    name="hypeledger",
    help=(
        "Operator-side seamless wallet for Hypetech crash games.\n\n"
        "Exit codes: 0 done, 1 a check found a problem, 2 usage, 3 refused, "
        "4 unavailable (retry later), 5 partial failure."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version  # noqa: PLC0415

        print(f"hypeledger {version('hypeledger')}")
        raise typer.Exit


@app.callback()
def _options(
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the installed version and exit.",
        ),
    ] = False,
) -> None:
    del _version  # handled by its eager callback


for area in (
    infra,
    ingress,
    ledger,
    maintenance,
    operator,
    protection,
    reconciler,
    simulator,
    demo,
):
    area.register(app)


def main() -> None:
    app()
