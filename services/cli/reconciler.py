"""``hypeledger reconciler`` (every N minutes), ``hypeledger reconcile`` (once, on demand),
``hypeledger findings`` (a table, or ``--json``) and ``hypeledger finding-status`` (resolve or
ignore a finding, recording who and why)."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from shared.settings import ReconcilerSettings

JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def register(app: typer.Typer) -> None:
    app.command("reconciler")(reconciler)
    app.command("reconcile")(reconcile)
    app.command("findings")(findings)
    app.command("finding-status")(finding_status)


def _settings(**overrides: Any) -> ReconcilerSettings:
    from shared.settings import ReconcilerSettings  # noqa: PLC0415 - keep `--help` fast

    return ReconcilerSettings(**{k: v for k, v in overrides.items() if v is not None})


def reconciler(
    *,
    interval: Annotated[
        float | None, typer.Option(help="Seconds between runs (HYPELEDGER_INTERVAL_S).")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Port of /healthz /readyz /metrics.")
    ] = None,
) -> None:
    """Reconcile every N seconds; resumes an unfinished run first (HYPELEDGER_* settings)."""
    from services.reconciler.app import serve  # noqa: PLC0415

    asyncio.run(serve(_settings(interval_s=interval, metrics_port=metrics_port)))


def reconcile(
    *,
    session: Annotated[str | None, typer.Option(help="Check this one session only.")] = None,
    since: Annotated[
        datetime | None, typer.Option(help="Sessions with ledger activity since then (ISO 8601).")
    ] = None,
    as_json: JsonOut = False,
) -> None:
    """Run once and print the run report. A run a killed reconciler left is finished first."""
    from services.reconciler.app import reconcile_once  # noqa: PLC0415
    from services.reconciler.runner import RunRequest  # noqa: PLC0415

    if since is not None and since.tzinfo is None:
        from datetime import UTC  # noqa: PLC0415

        since = since.replace(tzinfo=UTC)
    report = asyncio.run(reconcile_once(_settings(), RunRequest("manual", session, since)))
    if as_json:
        print(json.dumps(report))
        return
    _print_report(report)


def findings(
    *,
    status: Annotated[str | None, typer.Option(help="open, resolved or ignored.")] = "open",
    finding_class: Annotated[str | None, typer.Option("--class", help="Only this class.")] = None,
    session: Annotated[str | None, typer.Option(help="Only this session.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 1000,
    all_statuses: Annotated[bool, typer.Option("--all", help="Every status.")] = False,
    as_json: JsonOut = False,
) -> None:
    """List findings with their evidence."""
    rows = asyncio.run(
        _with_store(
            lambda store: store.findings(
                status=None if all_statuses else status,
                finding_class=finding_class,
                session_id=session,
                limit=limit,
            )
        )
    )
    if as_json:
        print(json.dumps([_jsonable(r) for r in rows], default=str))
        return
    _print_findings(rows)


def finding_status(
    finding_id: Annotated[int, typer.Argument(help="The finding's id.")],
    status: Annotated[str, typer.Argument(help="open, resolved or ignored.")],
    *,
    by: Annotated[str, typer.Option(help="Who changes it (recorded).")],
    reason: Annotated[str | None, typer.Option(help="Why (recorded).")] = None,
) -> None:
    """Change a finding's status; the change is recorded with who, when and why, and published."""
    if status not in ("open", "resolved", "ignored"):
        print(f"unknown status {status!r}", file=sys.stderr)
        raise typer.Exit(2)
    changed = asyncio.run(
        _with_store(lambda store: store.set_status([finding_id], status, by, reason))
    )
    print(f"finding {finding_id}: {status}" if changed else f"finding {finding_id}: unchanged")


async def _with_store(action: Any) -> Any:
    from services.reconciler.app import DEFAULT_PROVIDER  # noqa: PLC0415
    from services.reconciler.store import ReconcilerStore  # noqa: PLC0415
    from shared.db.pool import create_pool  # noqa: PLC0415

    pool = await create_pool(_settings(), max_size=2, application_name="reconciler-cli")
    try:
        return await action(ReconcilerStore(pool, DEFAULT_PROVIDER))
    finally:
        await pool.close()


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def _print_report(report: dict[str, Any]) -> None:
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    table = Table(title=f"reconciliation run {report['run_id']} ({report['trigger']})")
    table.add_column("what")
    table.add_column("count", justify="right")
    for key in (
        "sessions_total",
        "sessions_done",
        "sessions_failed",
        "provider_rows",
        "ledger_rows",
    ):
        table.add_row(key.replace("_", " "), str(report[key]))
    for key, value in sorted(report["totals"].items()):
        table.add_row(key, str(value))
    Console().print(table)


def _print_findings(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    table = Table(title=f"{len(rows)} findings")
    for column in ("id", "class", "status", "session", "tx", "round", "user", "detail", "seen"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            str(r["finding_id"]),
            r["finding_class"],
            r["status"] + (f" by {r['status_changed_by']}" if r["status_changed_by"] else ""),
            r["session_id"],
            f"{r['kind']}:{r['provider_tx_id']}",
            r["round_id"] or "",
            r["user_id"] or "",
            r["detail"],
            str(r["times_seen"]),
        )
    Console().print(table)
