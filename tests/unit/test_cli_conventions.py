"""The CLI's conventions: ISO 8601 times, choices, exit codes, --version, true help, progress."""

from __future__ import annotations

import os
import pty
import select
import socket
import time
from datetime import UTC, datetime, timedelta, timezone
from importlib.metadata import version

import pytest
import typer
from typer.testing import CliRunner

from services.cli import conventions
from services.cli.conventions import ExitCode, exit_code_for_status, parse_time, progress
from services.cli.main import app
from shared.contracts.commands import Generation, OperatorKind, WebhookKind
from shared.contracts.reconciliation import RowClass

NAIVE = "2026-05-04T00:00:00"


def invoke(*args: str) -> typer.testing.Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-05-04T00:00:00Z", datetime(2026, 5, 4, tzinfo=UTC)),
        ("2026-05-04T00:00:00z", datetime(2026, 5, 4, tzinfo=UTC)),
        ("2026-05-04T02:00:00+02:00", datetime(2026, 5, 4, tzinfo=UTC)),
        (
            "2026-05-03T18:30:00.250-05:30",
            datetime(2026, 5, 4, 0, 0, 0, 250000, tzinfo=UTC),
        ),
    ],
)
def test_reads_iso_8601_times_with_z_or_an_offset(text: str, expected: datetime) -> None:
    parsed = parse_time(text)

    assert parsed == expected
    assert parsed.utcoffset() is not None


def test_keeps_the_offset_it_was_given() -> None:
    parsed = parse_time("2026-05-04T02:00:00+02:00")

    assert parsed.tzinfo == timezone(timedelta(hours=2))


def test_refuses_a_naive_time_saying_how_to_write_it() -> None:
    with pytest.raises(typer.BadParameter, match="no offset; add Z"):
        parse_time(NAIVE)


def test_refuses_text_that_is_not_a_time() -> None:
    with pytest.raises(typer.BadParameter, match="not an ISO 8601 time"):
        parse_time("yesterday")


def test_reconcile_refuses_a_naive_since_as_a_usage_error() -> None:
    result = invoke("reconcile", "--since", NAIVE)

    assert result.exit_code == ExitCode.USAGE
    assert "no offset" in result.output


def test_history_refuses_a_naive_since_as_a_usage_error() -> None:
    result = invoke("history", "u1", "BRL", "--since", NAIVE)

    assert result.exit_code == ExitCode.USAGE
    assert "no offset" in result.output


@pytest.mark.parametrize("since", ["2026-05-04T00:00:00Z", "2026-05-04T03:00:00+03:00"])
def test_history_accepts_z_and_offsets_then_reports_the_api_unavailable(since: str) -> None:
    api = f"http://127.0.0.1:{closed_port()}"

    result = invoke("history", "u1", "BRL", "--since", since, "--api", api)

    assert result.exit_code == ExitCode.UNAVAILABLE
    assert "cannot reach the operator API" in result.output


def test_findings_refuses_a_status_outside_its_choices() -> None:
    result = invoke("findings", "--status", "closed")

    assert result.exit_code == ExitCode.USAGE
    assert "open" in result.output
    assert "resolved" in result.output


def test_finding_status_refuses_a_status_outside_its_choices() -> None:
    result = invoke("finding-status", "7", "done", "--by", "ops")

    assert result.exit_code == ExitCode.USAGE


def test_retention_refuses_fewer_than_180_days_as_a_usage_error() -> None:
    result = invoke("retention", "--days", "30")

    assert result.exit_code == ExitCode.USAGE


def test_retention_refuses_less_than_five_years_outside_development() -> None:
    result = CliRunner().invoke(
        app,
        ["retention", "--days", "365"],
        env={"COLUMNS": "200", "NO_COLOR": "1", "HYPELEDGER_ENVIRONMENT": "production"},
    )

    assert result.exit_code == ExitCode.USAGE
    assert "at least 1827" in result.output


def test_prints_the_installed_version() -> None:
    result = invoke("--version")

    assert result.exit_code == ExitCode.OK
    assert result.output.strip() == f"hypeledger {version('hypeledger')}"


def test_balance_help_says_it_asks_the_operator_api() -> None:
    result = invoke("balance", "--help")

    assert result.exit_code == ExitCode.OK
    assert "operator API" in result.output
    assert "database" not in result.output


def test_the_top_level_help_lists_the_exit_codes() -> None:
    result = invoke("--help")

    assert "4 unavailable" in result.output
    assert "5 partial failure" in result.output


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, ExitCode.REFUSED),
        (403, ExitCode.REFUSED),
        (404, ExitCode.REFUSED),
        (409, ExitCode.REFUSED),
        (429, ExitCode.UNAVAILABLE),
        (500, ExitCode.UNAVAILABLE),
        (502, ExitCode.UNAVAILABLE),
        (503, ExitCode.UNAVAILABLE),
    ],
)
def test_maps_an_http_error_to_refused_or_unavailable(status: int, code: ExitCode) -> None:
    assert exit_code_for_status(status) == code


def test_the_exit_codes_are_distinct() -> None:
    assert len({int(code) for code in ExitCode}) == len(ExitCode)


def test_the_cli_choices_are_the_contracts_values() -> None:
    finding_classes = {c.value for c in RowClass} - {"matched"}
    kinds = ({k.value for k in WebhookKind} | {k.value for k in OperatorKind}) - {
        "balance",
        "create_account",
        "block",
        "unblock",
        "settle_lost",
        # player protection's commands move no money: no transaction has their kind
        "set_limit",
        "remove_limit",
        "exclude",
        "time_out",
    }

    assert {c.value for c in conventions.FindingClass} == finding_classes
    assert {g.value for g in conventions.Generation} == {g.value for g in Generation}
    assert {k.value for k in conventions.TransactionKind} == kinds


def test_draws_progress_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    leader, follower = pty.openpty()
    with os.fdopen(follower, "w") as terminal:
        with progress("work", stream=terminal) as advance:
            advance(1, 2)
            advance(2, 2)
        terminal.flush()

        drawn = _read_terminal(leader, until="work")
    os.close(leader)

    assert "work" in drawn


def _read_terminal(leader: int, *, until: str, within_s: float = 5.0) -> str:
    """What the terminal shows, read until ``until`` appears or ``within_s`` has passed: the kernel
    hands a pty's output to its reader in pieces, so one read may hold only the first of them
    (under load it held only the escape code that hides the cursor)."""
    drawn = ""
    deadline = time.monotonic() + within_s
    while until not in drawn and time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.1)
        if ready:
            drawn += os.read(leader, 65536).decode(errors="replace")
    return drawn


def test_draws_nothing_when_piped() -> None:
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "w") as pipe, progress("work", stream=pipe) as advance:
        advance(1, 2)
        advance(2, 2)

    with os.fdopen(read_end) as reader:
        assert reader.read() == ""


def test_migrate_reports_a_database_it_cannot_reach_as_unavailable() -> None:
    url = f"postgresql://hypeledger@127.0.0.1:{closed_port()}/hypeledger"

    result = invoke("migrate", "--database-url", url)

    assert result.exit_code == ExitCode.UNAVAILABLE
    assert "cannot reach the database" in result.output


def test_reconcile_reports_a_database_it_cannot_reach_as_unavailable() -> None:
    url = f"postgresql://hypeledger@127.0.0.1:{closed_port()}/hypeledger"

    result = CliRunner().invoke(
        app,
        ["reconcile", "--since", "2026-05-04T00:00:00Z"],
        env={"HYPELEDGER_DATABASE_URL": url, "HYPELEDGER_ENVIRONMENT": "test", "COLUMNS": "200"},
    )

    assert result.exit_code == ExitCode.UNAVAILABLE
    assert "cannot reach" in result.output
