"""``hypeledger infra up|down|status`` and ``hypeledger migrate``.

``infra up`` starts (or finds) Postgres and a Kafka-protocol broker per the order in
docs/infrastructure.md, waits until both answer, creates the ``hypeledger`` database, applies the
migrations, records everything in a state file and prints the ``export`` lines; the servers keep
running until ``infra down``. ``infra up --foreground`` instead holds them until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

STATE_OPTION = typer.Option(
    "--state-file",
    envvar="HYPELEDGER_INFRA_STATE",
    help="Where `up` records the stack and `down`/`status` read it.",
)


def _state_path(state_file: Path | None) -> Path:
    from shared.infra.state import DEFAULT_STATE_FILE  # noqa: PLC0415 - keep --help fast

    return state_file or DEFAULT_STATE_FILE


def _print_state(title: str, state_path: Path) -> None:
    from shared.db.databases import database_name  # noqa: PLC0415
    from shared.infra.postgres import redact  # noqa: PLC0415
    from shared.infra.state import read_state  # noqa: PLC0415

    state = read_state(state_path)
    if state is None:
        return
    print(title)
    print(f"  postgres  {redact(state.database_url)}  ({state.postgres_source})")
    print(f"            database {database_name(state.database_url)}")
    broker = f"{state.kafka_bootstrap_servers}  ({state.broker_source}, {state.kafka_flavour})"
    print(f"  broker    {broker}")
    for server in state.servers:
        print(f"  pid {server.pid:<7} {server.name}  log {server.log_path}")
    print(f"  state     {state_path}")
    print(f"  healthy after {state.healthy_after_s:.2f} s")
    print()
    for name, value in state.exports().items():
        print(f"export {name}={value}")


async def _up(state_path: Path, database: str, apply_migrations: bool, foreground: bool) -> None:
    from shared.db.databases import create_database  # noqa: PLC0415
    from shared.db.migrate import migrate  # noqa: PLC0415
    from shared.infra.reaper import Reaper  # noqa: PLC0415
    from shared.infra.selection import DATABASE_URL, PostgresSource  # noqa: PLC0415
    from shared.infra.stack import start_stack, stop_stack  # noqa: PLC0415
    from shared.infra.state import InfraState, record, write_state  # noqa: PLC0415

    started = time.monotonic()
    reaper = Reaper() if foreground else None
    stack = await start_stack(reaper=reaper, detached=not foreground)
    try:
        if stack.plan.postgres is PostgresSource.ENV:
            database_url = os.environ[DATABASE_URL]
        else:
            database_url = await create_database(
                stack.database_admin_url, database, if_missing=True
            )
        healthy_after = time.monotonic() - started
        if apply_migrations:
            await migrate(database_url)
        state = InfraState(
            database_admin_url=stack.database_admin_url,
            database_url=database_url,
            kafka_bootstrap_servers=stack.kafka_bootstrap_servers,
            kafka_flavour=stack.kafka_flavour.value,
            postgres_source=stack.plan.postgres.value,
            broker_source=stack.plan.broker.value,
            run_dir=str(stack.run_dir) if stack.run_dir else None,
            servers=[record(server) for server in stack.servers],
            container_ids=[handle.container_id for handle in stack.containers],
            healthy_after_s=round(healthy_after, 3),
        )
        write_state(state, state_path)
    except BaseException:
        await stop_stack(stack, reaper=reaper)
        raise
    _print_state("hypeledger infrastructure is up:", state_path)
    if not foreground:
        return
    print("\nCtrl-C stops it.", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await stop_stack(stack, reaper=reaper)
        assert reaper is not None  # noqa: S101 - created above for the foreground mode
        await asyncio.to_thread(reaper.close)
        await asyncio.to_thread(state_path.unlink, missing_ok=True)


def infra_up(
    state_file: Annotated[Path | None, STATE_OPTION] = None,
    database: Annotated[str, typer.Option(help="Database to create and migrate.")] = ("hypeledger"),
    migrate: Annotated[bool, typer.Option(help="Apply the migrations to it.")] = True,
    foreground: Annotated[
        bool, typer.Option(help="Stay in the foreground; Ctrl-C stops everything.")
    ] = False,
) -> None:
    """Start Postgres and a broker, wait until both answer, print where they listen."""
    from shared.infra.processes import InfraError  # noqa: PLC0415
    from shared.infra.state import read_state, running  # noqa: PLC0415

    state_path = _state_path(state_file)
    previous = read_state(state_path)
    if previous is not None and any(running(previous).values()):
        _print_state("already up (run `hypeledger infra down` first):", state_path)
        raise typer.Exit(1)
    try:
        asyncio.run(_up(state_path, database, migrate, foreground))
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    except InfraError as exc:
        print(f"infra up failed: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None


def infra_down(state_file: Annotated[Path | None, STATE_OPTION] = None) -> None:
    """Stop what `infra up` started and remove its files; nothing is left running."""
    from shared.infra.state import read_state, stop_recorded  # noqa: PLC0415

    state_path = _state_path(state_file)
    state = read_state(state_path)
    if state is None:
        print(f"nothing to stop ({state_path} does not exist)")
        return
    killed = stop_recorded(state)
    state_path.unlink(missing_ok=True)
    names = ", ".join(server.name for server in state.servers) or "nothing started here"
    print(f"stopped: {names}" + (f" (killed: {', '.join(killed)})" if killed else ""))


def infra_status(state_file: Annotated[Path | None, STATE_OPTION] = None) -> None:
    """Show what `infra up` started and whether it answers; exit 1 when something is down."""
    from shared.infra.broker import broker_answers  # noqa: PLC0415
    from shared.infra.postgres import server_answers  # noqa: PLC0415
    from shared.infra.state import read_state, running  # noqa: PLC0415

    state_path = _state_path(state_file)
    state = read_state(state_path)
    if state is None:
        print(f"down ({state_path} does not exist)")
        raise typer.Exit(1)

    async def probe() -> tuple[bool, bool]:
        return (
            await server_answers(state.database_url),
            await broker_answers(state.kafka_bootstrap_servers),
        )

    postgres_ok, broker_ok = asyncio.run(probe())
    _print_state("hypeledger infrastructure:", state_path)
    print()
    for name, alive in running(state).items():
        print(f"process {name}: {'running' if alive else 'GONE'}")
    print(f"postgres answers: {'yes' if postgres_ok else 'NO'}")
    print(f"broker answers:   {'yes' if broker_ok else 'NO'}")
    if not (postgres_ok and broker_ok and all(running(state).values())):
        raise typer.Exit(1)


def migrate_command(
    database_url: Annotated[
        str | None,
        typer.Option(help="Defaults to HYPELEDGER_DATABASE_URL / the settings default."),
    ] = None,
) -> None:
    """Apply the pending database migrations (forward only, each in a transaction)."""
    import asyncpg  # noqa: PLC0415

    from services.cli.conventions import ExitCode, fail  # noqa: PLC0415
    from shared.db.migrate import MigrationError, migrate  # noqa: PLC0415
    from shared.infra.postgres import redact  # noqa: PLC0415
    from shared.settings import CommonSettings  # noqa: PLC0415

    dsn = database_url or CommonSettings().database_url
    try:
        applied = asyncio.run(migrate(dsn))
    except MigrationError as exc:
        fail(f"migrate refused: {exc}", ExitCode.REFUSED)
    except (OSError, asyncpg.PostgresConnectionError) as exc:
        fail(f"cannot reach the database {redact(dsn)}: {exc}", ExitCode.UNAVAILABLE)
    for migration in applied:
        print(f"applied {migration.version:04d}_{migration.name}")
    print(f"{redact(dsn)}: {len(applied)} migration(s) applied, schema up to date")


def register(app: typer.Typer) -> None:
    infra_app = typer.Typer(
        help="Local Postgres and Kafka-protocol broker for tests and the demo.",
        no_args_is_help=True,
    )
    app.add_typer(infra_app, name="infra")
    infra_app.command("up")(infra_up)
    infra_app.command("down")(infra_down)
    infra_app.command("status")(infra_status)
    app.command("migrate")(migrate_command)
