"""The people-facing CLI commands over the real operator API."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import select
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

from services.cli.conventions import ExitCode
from tests.integration.operator_api.conftest import TOKEN, Stack
from tests.integration.operator_api.test_operator_api_findings import a_finding

pytestmark = pytest.mark.integration


HYPELEDGER = str(Path(sys.executable).with_name("hypeledger"))
CLI_WITHIN_S = 60.0
REFUSED = ExitCode.REFUSED
UNAVAILABLE = ExitCode.UNAVAILABLE


async def run(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """Run the installed ``hypeledger`` command as a process; its exit code and stdout."""
    process = await asyncio.create_subprocess_exec(
        HYPELEDGER,
        *args,
        env={**os.environ, "COLUMNS": "200", **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(CLI_WITHIN_S):
        out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode()


async def cli(stack: Stack, *args: str) -> tuple[int, str]:
    env = {"HYPELEDGER_OPERATOR_API_URL": stack.api_url, "HYPELEDGER_OPERATOR_TOKEN": TOKEN}
    return await run(*args, env=env)


async def test_accounts_create_then_deposit_then_balance_as_json(stack: Stack) -> None:
    user_id = stack.user()
    await cli(stack, "accounts", "create", user_id, "BRL")
    await cli(stack, "deposit", user_id, "BRL", "42.10", "--key", f"cli-{user_id}")

    code, out = await cli(stack, "balance", user_id, "BRL", "--json")

    assert code == 0
    assert json.loads(out)["balance"] == "42.10"


async def test_a_retried_cli_deposit_with_the_same_key_moves_money_once(stack: Stack) -> None:
    user_id = await stack.funded()
    for _ in range(2):
        await cli(stack, "deposit", user_id, "BRL", "5.00", "--key", f"twice-{user_id}")

    _, out = await cli(stack, "balance", user_id, "BRL", "--json")

    assert json.loads(out)["balance"] == "5.00"


async def test_a_refused_withdrawal_ends_the_command_with_exit_code_3(stack: Stack) -> None:
    user_id = await stack.funded(amount="1.00")

    code, _ = await cli(stack, "withdraw", user_id, "BRL", "2.00")

    assert code == REFUSED


async def test_history_follows_every_page_with_all(stack: Stack) -> None:
    user_id = await stack.funded(amount="1.00")
    for n in range(4):
        await cli(stack, "deposit", user_id, "BRL", "1.00", "--key", f"{user_id}-h{n}")

    code, out = await cli(stack, "history", user_id, "BRL", "--limit", "2", "--all", "--json")

    assert code == 0
    assert len(json.loads(out)["items"]) == 5


async def test_history_prints_a_table_for_people(stack: Stack) -> None:
    user_id = await stack.funded(amount="3.00")

    code, out = await cli(stack, "history", user_id, "BRL")

    assert code == 0
    assert "deposit" in out
    assert "3.00" in out


async def test_launch_prints_the_game_url(stack: Stack) -> None:
    user_id = await stack.funded(amount="9.00")

    code, out = await cli(stack, "launch", user_id, "aviador", "--username", "Ana", "--json")

    assert code == 0
    assert json.loads(out)["game_url"].startswith(stack.simulator_url)


async def test_free_bets_are_granted_and_listed(stack: Stack) -> None:
    user_id = await stack.funded()
    await cli(
        stack,
        "free-bets",
        "grant",
        user_id,
        "BRL",
        "aviador",
        "--quantity",
        "2",
        "--value",
        "1.50",
        "--expires-at",
        "2099-01-01T00:00:00Z",
        "--bonus-code",
        "CLI2",
    )

    code, out = await cli(stack, "free-bets", "list", user_id, "BRL", "--json")

    assert code == 0
    assert [g["bonus_code"] for g in json.loads(out)["items"]] == ["CLI2"]


async def test_accounts_show_without_a_currency_lists_every_account(stack: Stack) -> None:
    user_id = await stack.funded("BRL")
    await cli(stack, "accounts", "create", user_id, "USD")

    _, out = await cli(stack, "accounts", "show", user_id, "--json")

    assert sorted(a["currency"] for a in json.loads(out)["items"]) == ["BRL", "USD"]


async def test_a_wrong_token_ends_the_command_with_exit_code_3(stack: Stack) -> None:
    code, _ = await run(
        "balance", "anyone", "BRL", "--api", stack.api_url, "--token", "wrong", env={}
    )

    assert code == REFUSED


async def test_history_accepts_since_with_z_and_with_an_offset(stack: Stack) -> None:
    user_id = await stack.funded(amount="2.00")

    z_code, z_out = await cli(
        stack, "history", user_id, "BRL", "--since", "2000-01-01T00:00:00Z", "--json"
    )
    offset_code, offset_out = await cli(
        stack, "history", user_id, "BRL", "--since", "2000-01-01T02:00:00+02:00", "--json"
    )

    assert (z_code, offset_code) == (0, 0)
    assert len(json.loads(z_out)["items"]) == 1
    assert json.loads(offset_out) == json.loads(z_out)


async def test_findings_are_listed_through_the_api(stack: Stack, db_pool: asyncpg.Pool) -> None:
    session_id = uuid.uuid4().hex
    finding_id = await a_finding(db_pool, session_id)

    code, out = await cli(
        stack, "findings", "--session", session_id, "--class", "missing_in_ledger", "--json"
    )

    assert code == 0
    assert [(f["finding_id"], f["class"], f["status"]) for f in json.loads(out)] == [
        (finding_id, "missing_in_ledger", "open")
    ]


async def test_a_finding_status_is_changed_through_the_api(
    stack: Stack, db_pool: asyncpg.Pool
) -> None:
    session_id = uuid.uuid4().hex
    finding_id = await a_finding(db_pool, session_id)

    code, _ = await cli(
        stack, "finding-status", str(finding_id), "resolved", "--by", "ops", "--reason", "paid"
    )
    _, out = await cli(stack, "findings", "--session", session_id, "--all", "--json")

    assert code == 0
    (listed,) = json.loads(out)
    assert (listed["status"], listed["status_changed_by"]) == ("resolved", "ops")


async def test_a_missing_finding_ends_the_command_with_exit_code_3(stack: Stack) -> None:
    code, _ = await cli(stack, "finding-status", "999999999", "ignored", "--by", "ops")

    assert code == REFUSED


async def test_an_api_that_cannot_be_reached_ends_the_command_with_exit_code_4(
    stack: Stack,
) -> None:
    code, _ = await run("balance", "anyone", "BRL", "--api", "http://127.0.0.1:9", env={})

    assert code == UNAVAILABLE


def database_env(stack: Stack) -> dict[str, str]:
    return {f"HYPELEDGER_{k.upper()}": str(v) for k, v in stack.env.items()}


async def test_audit_draws_progress_on_a_terminal(stack: Stack) -> None:
    leader, follower = pty.openpty()
    try:
        process = await asyncio.create_subprocess_exec(
            HYPELEDGER,
            "audit",
            env={**os.environ, "TERM": "xterm-256color", **database_env(stack)},
            stdout=asyncio.subprocess.PIPE,
            stderr=follower,
        )
        async with asyncio.timeout(CLI_WITHIN_S):
            out, _ = await process.communicate()
        drawn = await asyncio.to_thread(read_available, leader)
    finally:
        os.close(follower)
        os.close(leader)

    assert process.returncode == 0
    assert "clean" in out.decode()
    assert "audit checks" in drawn


async def test_audit_draws_no_progress_when_piped(stack: Stack) -> None:
    process = await asyncio.create_subprocess_exec(
        HYPELEDGER,
        "audit",
        env={**os.environ, "TERM": "xterm-256color", **database_env(stack)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(CLI_WITHIN_S):
        out, err = await process.communicate()

    assert process.returncode == 0
    assert "clean" in out.decode()
    assert err.decode() == ""


def read_available(fd: int) -> str:
    """Everything written to the terminal so far (the writer has exited)."""
    chunks = []
    while select.select([fd], [], [], 0.5)[0]:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")
