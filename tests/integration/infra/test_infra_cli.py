"""``hypeledger infra up|status|down`` and ``hypeledger migrate`` as a user runs them.

Two stacks for the module, as each ``infra up`` starts a Postgres and a broker: one stays up for
the tests that read it, one is taken down for the tests of ``down``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from shared.db.migrate import discover
from shared.infra.processes import descendants, stop_group
from shared.infra.state import InfraState, read_state
from tests.process_checks import alive, ps_lines, wait_all_gone

HYPELEDGER = str(Path(sys.executable).with_name("hypeledger"))
PRIVATE = {"HYPELEDGER_INFRA_POSTGRES": "private", "HYPELEDGER_INFRA_BROKER": "kafka"}


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("HYPELEDGER_")}
    return subprocess.run(
        [HYPELEDGER, *args],
        env={**base, **PRIVATE, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _up(state_file: Path) -> tuple[InfraState, subprocess.CompletedProcess[str]]:
    result = _run("infra", "up", "--state-file", str(state_file))
    assert result.returncode == 0, result.stderr
    state = read_state(state_file)
    assert state is not None
    return state, result


@dataclass(frozen=True)
class Up:
    """A stack as ``infra up`` left it: its state file, its state and what the command printed."""

    state_file: Path
    state: InfraState
    printed: str


@pytest.fixture(scope="module")
def stack_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    """One ``infra up`` for the tests that read a running stack (each up starts a Postgres and a
    broker); ``infra down`` after the last of them."""
    state_file = tmp_path_factory.mktemp("up") / "infra.json"
    state, result = _up(state_file)
    try:
        yield Up(state_file, state, result.stdout)
    finally:
        _run("infra", "down", "--state-file", str(state_file))


@dataclass(frozen=True)
class Down:
    """A stack taken down by ``infra down``: what ran before it, and the command's result."""

    up: Up
    pids: list[int]
    result: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def stack_down(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Down]:
    """A stack taken down by ``infra down``; should that fail, its servers are stopped after the
    tests that show it."""
    state_file = tmp_path_factory.mktemp("down") / "infra.json"
    state, result = _up(state_file)
    pids = [server.pid for server in state.servers]
    pids += [child for pid in pids for child in descendants(pid)]
    try:
        yield Down(
            Up(state_file, state, result.stdout),
            pids,
            _run("infra", "down", "--state-file", str(state_file)),
        )
    finally:
        for server in state.servers:
            if server.is_ours():
                stop_group(server.pid, signal.Signals(server.stop_signal))


def test_up_prints_the_exports_and_the_servers_keep_running(stack_up: Up) -> None:
    state = stack_up.state

    assert f"export HYPELEDGER_DATABASE_URL={state.database_url}" in stack_up.printed
    assert f"export HYPELEDGER_KAFKA_BOOTSTRAP_SERVERS={state.kafka_bootstrap_servers}" in (
        stack_up.printed
    )
    assert all(alive(server.pid) for server in state.servers)


def test_status_reports_a_running_stack(stack_up: Up) -> None:
    result = _run("infra", "status", "--state-file", str(stack_up.state_file))

    assert result.returncode == 0, result.stdout
    assert "postgres answers: yes" in result.stdout


def test_up_creates_and_migrates_the_database(stack_up: Up) -> None:
    async def versions() -> list[int]:
        conn = await asyncpg.connect(stack_up.state.database_url)
        try:
            rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
        finally:
            await conn.close()
        return [row["version"] for row in rows]

    applied = asyncio.run(versions())

    assert applied == [migration.version for migration in discover()]


def test_down_leaves_no_process_and_no_files(stack_down: Down) -> None:
    state = stack_down.up.state

    assert stack_down.result.returncode == 0, stack_down.result.stderr
    assert wait_all_gone(stack_down.pids, within_s=5) == []
    assert state.run_dir is not None
    assert ps_lines(state.run_dir) == []
    assert not Path(state.run_dir).exists()
    assert not stack_down.up.state_file.exists()


def test_status_fails_after_down(stack_down: Down) -> None:
    result = _run("infra", "status", "--state-file", str(stack_down.up.state_file))

    assert result.returncode == 1


def test_migrate_command_brings_a_database_up_to_date(scratch_database: str) -> None:
    result = _run("migrate", env={"HYPELEDGER_DATABASE_URL": scratch_database})

    assert result.returncode == 0, result.stderr
    assert f"{len(discover())} migration(s) applied" in result.stdout
