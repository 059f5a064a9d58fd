"""``hypeledger infra up|down|status`` and ``hypeledger migrate``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    infra_app = typer.Typer(help="Local Postgres and Kafka-protocol broker for tests and the demo.")
    app.add_typer(infra_app, name="infra")
