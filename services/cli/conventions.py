"""What every ``hypeledger`` command shares: exit codes, times, choices and progress.

Exit codes (scripts branch on them; ``docs/cli.md`` lists them):

== ==========================================================================================
0  done
1  a check found a problem (``audit`` violations, a fairness mismatch, a demo that does not add up)
2  usage: an unknown option, a value of the wrong form, a naive time
3  refused: the API or the ledger answered no (4xx), retrying the same call will not help
4  unavailable: a server could not be reached, timed out or answered 5xx or 429; retry later
5  partial failure: the command ran but part of its work failed (``reconcile`` sessions)
== ==========================================================================================
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import IO, NoReturn

import typer


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    REFUSED = 3
    UNAVAILABLE = 4
    PARTIAL = 5


#: Statuses a later retry may get past (the server, not the request, is the problem).
RETRYABLE_STATUSES = frozenset({408, 425, 429})


def exit_code_for_status(status: int) -> ExitCode:
    """The exit code for an HTTP error answer: 5xx and the retryable 4xx are "unavailable"."""
    if status >= 500 or status in RETRYABLE_STATUSES:
        return ExitCode.UNAVAILABLE
    return ExitCode.REFUSED


def fail(message: str, code: ExitCode) -> NoReturn:
    """Print ``error: message`` on stderr and end the command with ``code``."""
    from rich.console import Console  # noqa: PLC0415 - keep `hypeledger --help` fast

    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(int(code))


def parse_time(text: str) -> datetime:
    """An ISO 8601 time with ``Z`` or an offset; a naive time is refused (exit 2)."""
    value = text.strip()
    if value[-1:] in {"Z", "z"}:
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not an ISO 8601 time; write e.g. 2026-05-04T00:00:00Z"
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise typer.BadParameter(
            f"{text!r} has no offset; add Z (UTC) or one such as +02:00, e.g. 2026-05-04T00:00:00Z"
        )
    return parsed


def iso_time(text: str) -> str:
    """``parse_time`` written back in ISO 8601 with its offset, for options sent to an API."""
    return parse_time(text).isoformat()


# The choices below repeat values of ``shared.contracts``: importing the contracts (pydantic) would
# add about half a second to every command's start, ``--help`` included.
# ``tests/unit/test_cli_conventions.py`` keeps the two equal.


class FindingStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    IGNORED = "ignored"


class FindingClass(StrEnum):
    MISSING_IN_LEDGER = "missing_in_ledger"
    MISSING_AT_PROVIDER = "missing_at_provider"
    AMOUNT_MISMATCH = "amount_mismatch"
    KIND_MISMATCH = "kind_mismatch"
    STATUS_MISMATCH = "status_mismatch"
    OPEN_BET_ON_FINISHED_ROUND = "open_bet_on_finished_round"


class TransactionKind(StrEnum):
    BET = "bet"
    WIN = "win"
    LOSE = "lose"
    ROLLBACK = "rollback"
    DEPOSIT = "deposit"
    WITHDRAW = "withdraw"


class Generation(StrEnum):
    V1 = "v1"
    V2 = "v2"
    V3 = "v3"
    V4 = "v4"


Advance = Callable[[int, int | None], None]


def _ignore(done: int, total: int | None) -> None:
    del done, total


@contextmanager
def progress(description: str, stream: IO[str] | None = None) -> Iterator[Advance]:
    """A rich progress bar on ``stream`` (stderr) only when it is a terminal.

    Yields ``advance(done, total)``; when the stream is a pipe or a file nothing is drawn, so
    scripts and logs get only the command's result.
    """
    out = sys.stderr if stream is None else stream
    if not out.isatty():
        yield _ignore
        return
    from rich.console import Console  # noqa: PLC0415
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(file=out), transient=True) as bar:
        task = bar.add_task(description, total=None)

        def advance(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield advance
