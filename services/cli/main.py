"""The ``hypeledger`` command. Each area registers its commands from its own module here;
service code is imported inside each command, so ``hypeledger --help`` stays fast."""

from __future__ import annotations

import typer

from services.cli import (
    demo,
    infra,
    ingress,
    ledger,
    operator,
    protection,
    reconciler,
    simulator,
)

app = typer.Typer(
    name="hypeledger",
    help="Operator-side seamless wallet for Hypetech crash games.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

for area in (infra, ingress, ledger, operator, protection, reconciler, simulator, demo):
    area.register(app)


def main() -> None:
    app()
