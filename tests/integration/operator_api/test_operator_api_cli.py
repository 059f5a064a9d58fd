"""The people-facing CLI commands over the real operator API."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from tests.integration.operator_api.conftest import TOKEN, Stack

pytestmark = pytest.mark.integration


HYPELEDGER = str(Path(sys.executable).with_name("hypeledger"))
CLI_WITHIN_S = 60.0


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


async def test_a_refused_withdrawal_ends_the_command_with_exit_code_1(stack: Stack) -> None:
    user_id = await stack.funded(amount="1.00")

    code, _ = await cli(stack, "withdraw", user_id, "BRL", "2.00")

    assert code == 1


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


async def test_a_wrong_token_ends_the_command_with_exit_code_1(stack: Stack) -> None:
    code, _ = await run(
        "balance", "anyone", "BRL", "--api", stack.api_url, "--token", "wrong", env={}
    )

    assert code == 1
