"""The operator CLI applies the API's identifier and amount rules before it calls anything."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from services.cli.main import app

#: Nothing listens here: a command that got as far as calling would say it cannot reach it.
NOWHERE = "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["deposit", "x/y", "BRL", "10"], "user_id"),
        (["deposit", "e\u0301", "BRL", "10"], "user_id"),
        (["withdraw", "a\u202eb", "BRL", "10"], "user_id"),
        (["deposit", "u1", "B R", "10"], "currency"),
        (["deposit", "u1", "BRL", "\uff11\uff10"], "amount"),
        (["deposit", "u1", "BRL", "1_000"], "amount"),
        (["deposit", "u1", "BRL", " 5 "], "amount"),
        (["deposit", "u1", "BRL", "10", "--key", "k\u202e"], "--key"),
        (["accounts", "create", "x/y", "BRL"], "user_id"),
        (["balance", "x" * 201, "BRL"], "user_id"),
    ],
    ids=[
        "slash",
        "nfd",
        "bidi",
        "currency",
        "full-width",
        "underscore",
        "spaces",
        "key",
        "create",
        "long-user-id",
    ],
)
def test_a_command_breaking_the_rules_ends_before_calling_the_api(
    args: list[str], field: str
) -> None:
    result = CliRunner().invoke(app, [*args, "--api", NOWHERE])

    assert result.exit_code == 2  # a usage error: nothing was asked of the API
    assert field in result.output
    assert "cannot reach" not in result.output
