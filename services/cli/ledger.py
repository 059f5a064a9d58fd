"""``hypeledger ledger``, ``relay``, ``audit``, ``retention`` and ``chain-heads``: the ledger's
commands."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

import typer

from services.cli.conventions import ExitCode, fail, progress

T = TypeVar("T")


def _run_on_database(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``asyncio.run(main())``; a database that cannot be reached ends the command with exit 4."""
    import asyncpg  # noqa: PLC0415 - keep `hypeledger --help` fast

    try:
        return asyncio.run(main())
    except (OSError, asyncpg.PostgresConnectionError) as exc:
        fail(f"cannot reach the database: {exc}", ExitCode.UNAVAILABLE)


def register(app: typer.Typer) -> None:
    app.command("ledger")(ledger)
    app.command("relay")(relay)
    app.command("audit")(audit)
    app.command("retention")(retention)
    app.command("chain-heads")(chain_heads)
    offsets = typer.Typer(
        help="Stored consumer offsets against the command topic's log (show; set, audited)."
    )
    offsets.command("show")(offsets_show)
    offsets.command("set")(offsets_set)
    app.add_typer(offsets, name="ledger-offsets")


def ledger(
    no_relay: bool = typer.Option(
        False, "--no-relay", help="Do not run the outbox relay in this process."
    ),
    create_topics: int = typer.Option(
        0,
        "--create-topics",
        help="Create the command, DLQ and transactions topics with N partitions first.",
    ),
) -> None:
    """Run the ledger consumer (the only writer of money) and, unless --no-relay, the relay."""
    from shared.runtime import collector_paused  # noqa: PLC0415 - keep `hypeledger --help` fast

    with collector_paused():  # a restart is mostly these imports
        from services.ledger.app import build, serve  # noqa: PLC0415 - keep `hypeledger --help` fast
        from services.ledger.settings import LedgerSettings  # noqa: PLC0415 - keep `hypeledger --help` fast

    serve(build(LedgerSettings(), relay=not no_relay, create_partitions=create_topics or None))


def relay() -> None:
    """Run the outbox relay alone: publish outbox rows to wallet.transactions.v1."""
    from services.ledger.app import build, serve  # noqa: PLC0415 - keep `hypeledger --help` fast
    from services.ledger.settings import LedgerSettings  # noqa: PLC0415 - keep `hypeledger --help` fast

    serve(build(LedgerSettings(), consumer=False, relay=True))


def audit(
    limit: int = typer.Option(20, help="Violations listed per check."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Recompute balances from postings, check every ledger invariant; exit 1 on a violation."""
    from services.ledger.audit import audit as run_audit  # noqa: PLC0415 - keep `hypeledger --help` fast
    from services.ledger.settings import LedgerSettings  # noqa: PLC0415 - keep `hypeledger --help` fast
    from shared.db.pool import create_pool  # noqa: PLC0415 - keep `hypeledger --help` fast

    async def main() -> bool:
        pool = await create_pool(
            LedgerSettings(), min_size=1, max_size=1, application_name="hypeledger-audit"
        )
        try:
            async with pool.acquire() as conn:
                with progress("audit checks") as advance:
                    report = await run_audit(conn, limit=limit, progress=advance)
        finally:
            await pool.close()
        if as_json:
            print(
                json.dumps(
                    {"clean": report.clean, "violations": report.violations}, default=str, indent=2
                )
            )
        else:
            print(
                f"accounts={report.accounts} postings={report.postings}",
                f"decisions={report.decisions}",
            )
            for name, rows in report.violations.items():
                print(f"{'FAIL' if rows else 'ok  '} {name}")
                for row in rows:
                    print(f"     {row}")
            print("clean" if report.clean else "VIOLATIONS FOUND")
        return report.clean

    if not _run_on_database(main):
        raise typer.Exit(int(ExitCode.FAILED))


def retention(
    days: int | None = typer.Option(
        None,
        min=180,
        help="Keep decisions (idempotency keys) and tombstones this many days; default"
        " HYPELEDGER_RETENTION_DAYS (five years), never under five years outside development.",
    ),
    outbox_days: int | None = typer.Option(
        None,
        min=1,
        help="Keep published outbox rows this many days (HYPELEDGER_RETENTION_OUTBOX_DAYS).",
    ),
    batch_rows: int = typer.Option(
        10_000,
        min=1,
        help="Delete at most this many rows per transaction (each batch commits on its own).",
    ),
    max_seconds: float | None = typer.Option(
        None,
        min=1,
        help="Stop between batches after this many seconds (the next run goes on); default: until done.",
    ),
) -> None:
    """Expire decisions and tombstones older than --days, published outbox rows older than
    --outbox-days, in batches of --batch-rows rows, each its own short transaction;
    transactions and postings are kept for good."""
    from services.ledger.retention import expire  # noqa: PLC0415 - keep `hypeledger --help` fast
    from services.ledger.settings import LedgerSettings, retention_floor  # noqa: PLC0415 - keep `hypeledger --help` fast
    from shared.db.pool import create_pool  # noqa: PLC0415 - keep `hypeledger --help` fast

    settings = LedgerSettings()
    keep = settings.retention_days if days is None else days
    floor = retention_floor(settings.environment)
    if keep < floor:
        raise typer.BadParameter(
            f"must be at least {floor} in {settings.environment} (records of money are kept"
            " five years)",
            param_hint="--days",
        )

    async def main() -> None:
        pool = await create_pool(
            settings, min_size=1, max_size=1, application_name="hypeledger-retention"
        )
        try:
            async with pool.acquire() as conn:
                with progress("expiring keys, tombstones and published outbox rows"):
                    result = await expire(
                        conn,
                        now=datetime.now(UTC),
                        days=keep,
                        outbox_days=outbox_days or settings.retention_outbox_days,
                        environment=settings.environment,
                        batch_rows=batch_rows,
                        max_seconds=max_seconds,
                    )
        finally:
            await pool.close()
        print(
            f"cutoff={result.cutoff.isoformat()} decisions_deleted={result.decisions} "
            f"tombstones_deleted={result.tombstones} outbox_deleted={result.outbox} "
            f"partitions_dropped={result.partitions_dropped} "
            f"batches={result.batches} longest_batch_s={result.longest_batch_s} "
            f"complete={str(result.complete).lower()}"
        )

    _run_on_database(main)


def chain_heads(
    through: str | None = typer.Option(
        None,
        metavar="DATE",
        help="Record days up to this one (YYYY-MM-DD, the operator's time zone); default yesterday.",
    ),
    check: str | None = typer.Option(
        None,
        metavar="DATE",
        help="Only recompute this recorded day and compare; exit 1 if not equal.",
    ),
    heads: bool = typer.Option(False, "--heads", help="Print every account's head too."),
) -> None:
    """Record and publish each finished day's chain heads (the wallet.chain_heads event), and
    print them; or --check a recorded day against the ledger as stored now."""
    from datetime import date, timedelta  # noqa: PLC0415 - keep `hypeledger --help` fast
    from zoneinfo import ZoneInfo  # noqa: PLC0415 - keep `hypeledger --help` fast

    from services.ledger.chain_days import check_day, record_days  # noqa: PLC0415 - keep `hypeledger --help` fast
    from services.ledger.settings import LedgerSettings  # noqa: PLC0415 - keep `hypeledger --help` fast
    from shared.contracts.topics import TRANSACTIONS  # noqa: PLC0415 - keep `hypeledger --help` fast
    from shared.db.pool import create_pool  # noqa: PLC0415 - keep `hypeledger --help` fast

    settings = LedgerSettings()
    zone = settings.ledger_time_zone

    def day_of(text: str, name: str) -> date:
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise typer.BadParameter("must be a date, YYYY-MM-DD", param_hint=name) from None

    checked = None if check is None else day_of(check, "--check")
    last = (
        day_of(through, "--through")
        if through is not None
        else datetime.now(ZoneInfo(zone)).date() - timedelta(days=1)
    )

    async def main() -> bool:
        pool = await create_pool(
            settings, min_size=1, max_size=1, application_name="hypeledger-chain"
        )
        try:
            async with pool.acquire() as conn:
                if checked is not None:
                    found = await check_day(conn, checked, zone)
                    if found is None:
                        fail(f"{checked} is not recorded", ExitCode.FAILED)
                    days = [found]
                else:
                    days = await record_days(
                        conn, through=last, time_zone=zone, topic=settings.topic(TRANSACTIONS)
                    )
        finally:
            await pool.close()
        for day in days:
            e = day.event
            verdict = "recorded" if day.recorded else ("matches" if day.matches else "DIFFERS")
            print(
                f"{e.day} {e.time_zone} accounts={e.accounts} links={e.links}"
                f" root={e.root} previous={e.previous_root} {verdict}"
            )
            if heads:
                for user_id, currency, head in day.heads:
                    print(f"  {user_id} {currency} {head}")
        return all(day.matches for day in days)

    if not _run_on_database(main):
        raise typer.Exit(int(ExitCode.FAILED))


def offsets_show() -> None:
    """List each partition's stored next offset, its log's start and end, and any mismatch."""
    from services.ledger.offsets import show  # noqa: PLC0415 - keep `hypeledger --help` fast
    from services.ledger.settings import LedgerSettings  # noqa: PLC0415 - keep `hypeledger --help` fast

    rows = _run_on_database(lambda: show(LedgerSettings()))
    for row in rows:
        print(
            f"partition={row.partition} stored={row.stored} log_start={row.log_start}"
            f" log_end={row.log_end} {row.case or 'ok'}"
        )
    if any(row.case for row in rows):
        raise typer.Exit(int(ExitCode.FAILED))


def offsets_set(
    partition: int = typer.Option(..., help="The partition of wallet.commands.v1."),
    offset: int = typer.Option(..., help="The next offset to apply (within the log)."),
    operator: str = typer.Option(..., help="Who decides this (recorded)."),
    reason: str = typer.Option(..., help="Why, after which reconciliation (recorded)."),
) -> None:
    """Move one partition's stored next offset, after a reconciliation; recorded in
    offset_resolutions. The running ledger goes on from there at its next check."""
    from services.ledger.offsets import (  # noqa: PLC0415 - keep `hypeledger --help` fast
        ResolutionRefused,
        set_offset,
    )
    from services.ledger.settings import LedgerSettings  # noqa: PLC0415 - keep `hypeledger --help` fast

    try:
        resolution = _run_on_database(
            lambda: set_offset(
                LedgerSettings(),
                partition=partition,
                next_offset=offset,
                operator=operator,
                reason=reason,
            )
        )
    except ResolutionRefused as exc:
        fail(str(exc), ExitCode.REFUSED)
    print(f"resolution={resolution} partition={partition} next_offset={offset}")
