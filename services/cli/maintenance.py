"""``hypeledger reply-topics prune``: delete the reply topics no running instance uses."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from services.cli.conventions import ExitCode, fail


def register(app: typer.Typer) -> None:
    topics = typer.Typer(help="Reply topics of the request-reply clients.", no_args_is_help=True)
    app.add_typer(topics, name="reply-topics")
    topics.command("prune")(prune)


def prune(
    *,
    idle_minutes: Annotated[
        int,
        typer.Option(
            min=10, help="Delete reply topics with no record (heartbeat or reply) for this long."
        ),
    ] = 60,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be deleted, delete nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the names as JSON.")] = False,
) -> None:
    """Delete the reply topics left by stopped ingress, operator-API and reconciler instances.

    A running instance writes a heartbeat to its reply topic every minute, so a topic idle for
    --idle-minutes is nobody's. Topics that never held a record are kept. Needs Apache Kafka.
    """
    from aiokafka.errors import KafkaError  # noqa: PLC0415 - keep `hypeledger --help` fast

    from shared.reply_topics import prune as prune_topics  # noqa: PLC0415
    from shared.settings import CommonSettings  # noqa: PLC0415

    settings = CommonSettings()
    try:
        deleted = asyncio.run(
            prune_topics(
                settings,
                now=datetime.now(UTC),
                idle=timedelta(minutes=idle_minutes),
                dry_run=dry_run,
            )
        )
    except (KafkaError, OSError) as exc:
        fail(f"cannot reach the broker: {exc}", ExitCode.UNAVAILABLE)
    if as_json:
        print(json.dumps({"deleted" if not dry_run else "would_delete": deleted}))
        return
    verb = "would delete" if dry_run else "deleted"
    for name in deleted:
        print(f"{verb} {name}")
    print(f"{len(deleted)} reply topics {verb}")
