"""``hypeledger reconciler`` (every N minutes), ``hypeledger reconcile`` (once, on demand),
``hypeledger findings`` (a table, or ``--json``) and ``hypeledger finding-status`` (resolve or
ignore a finding, recording who and why). The last two call the operator API, so they need no
database credentials."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from services.cli.conventions import (
    ExitCode,
    FindingClass,
    FindingStatus,
    fail,
    parse_time,
    progress,
)
from services.cli.operator import DEFAULT_API, Api, ApiUrl, Token

if TYPE_CHECKING:
    from services.reconciler.settings import ReconcilerSettings

JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
#: The operator API's largest page.
PAGE_MAX = 500


def register(app: typer.Typer) -> None:
    app.command("reconciler")(reconciler)
    app.command("reconcile")(reconcile)
    app.command("findings")(findings)
    app.command("finding-status")(finding_status)


def _settings(**overrides: Any) -> ReconcilerSettings:
    from services.reconciler.settings import ReconcilerSettings  # noqa: PLC0415 - keep `--help` fast

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
        datetime | None,
        typer.Option(
            parser=parse_time,
            metavar="TIME",
            help="Sessions with ledger activity since then: ISO 8601 with Z or an offset.",
        ),
    ] = None,
    as_json: JsonOut = False,
) -> None:
    """Run once and print the run report; a run a killed reconciler left is finished first.

    Exits 5 when some sessions could not be checked (Hypetech failed for them), 4 when another
    reconciler is running or a server cannot be reached.
    """
    import asyncpg  # noqa: PLC0415

    from services.reconciler.app import reconcile_once  # noqa: PLC0415
    from services.reconciler.runner import RunRequest  # noqa: PLC0415
    from services.reconciler.store import AnotherRunActive  # noqa: PLC0415

    with progress("sessions checked") as advance:
        try:
            report = asyncio.run(
                reconcile_once(_settings(), RunRequest("manual", session, since), advance)
            )
        except AnotherRunActive as exc:
            fail(str(exc), ExitCode.UNAVAILABLE)
        except (OSError, asyncpg.PostgresConnectionError) as exc:
            fail(f"cannot reach the database or the broker: {exc}", ExitCode.UNAVAILABLE)
    if as_json:
        print(json.dumps(report))
    else:
        _print_report(report)
    if report["sessions_failed"]:
        fail(
            f"{report['sessions_failed']} of {report['sessions_total']} sessions could not be "
            "checked; run again to retry them",
            ExitCode.PARTIAL,
        )


def findings(
    *,
    status: Annotated[FindingStatus, typer.Option(help="Only findings in this status.")] = (
        FindingStatus.OPEN
    ),
    finding_class: Annotated[
        FindingClass | None, typer.Option("--class", help="Only this class.")
    ] = None,
    session: Annotated[str | None, typer.Option(help="Only this session.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 1000,
    all_statuses: Annotated[bool, typer.Option("--all", help="Every status.")] = False,
    api: ApiUrl = DEFAULT_API,
    token: Token = "",
    as_json: JsonOut = False,
) -> None:
    """List findings with their evidence, newest first, from the operator API."""
    client = Api(api, token, as_json)
    params: dict[str, Any] = {
        "status": None if all_statuses else status.value,
        "class": None if finding_class is None else finding_class.value,
        "session_id": session,
    }
    rows: list[dict[str, Any]] = []
    while len(rows) < limit:
        params["limit"] = min(PAGE_MAX, limit - len(rows))
        answer = client.call("GET", "/findings", params=params)
        rows.extend(answer["items"])
        params["cursor"] = answer["next_cursor"]
        if params["cursor"] is None:
            break
    if as_json:
        print(json.dumps(rows))
        return
    _print_findings(rows)


def finding_status(
    finding_id: Annotated[int, typer.Argument(help="The finding's id.")],
    status: Annotated[FindingStatus, typer.Argument(help="The new status.")],
    *,
    by: Annotated[str, typer.Option(help="Who changes it (recorded).")],
    reason: Annotated[str | None, typer.Option(help="Why (recorded).")] = None,
    api: ApiUrl = DEFAULT_API,
    token: Token = "",
    as_json: JsonOut = False,
) -> None:
    """Change a finding's status through the operator API; the change is recorded with who, when
    and why, and the reconciler publishes it."""
    client = Api(api, token, as_json)
    body = {"status": status.value, "changed_by": by, "note": reason}
    answer = client.call("POST", f"/findings/{finding_id}/status", body=body)
    if as_json:
        print(json.dumps(answer))
        return
    print(f"finding {finding_id}: {answer['status']}")


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
            r["class"],
            r["status"] + (f" by {r['status_changed_by']}" if r["status_changed_by"] else ""),
            r["session_id"],
            f"{r['kind']}:{r['provider_tx_id']}",
            r["round_id"] or "",
            r["user_id"] or "",
            r["detail"],
            str(r["times_seen"]),
        )
    Console().print(table)
