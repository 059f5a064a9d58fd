"""``hypeledger infra up|status|down`` and ``hypeledger migrate`` as a user runs them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg

from shared.db.migrate import discover
from shared.infra.processes import descendants
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


def _up(state_file: Path) -> InfraState:
    result = _run("infra", "up", "--state-file", str(state_file))
    assert result.returncode == 0, result.stderr
    state = read_state(state_file)
    assert state is not None
    return state


def test_up_prints_the_exports_and_the_servers_keep_running(tmp_path: Path) -> None:
    state_file = tmp_path / "infra.json"

    result = _run("infra", "up", "--state-file", str(state_file))

    try:
        state = read_state(state_file)
        assert state is not None
        assert f"export HYPELEDGER_DATABASE_URL={state.database_url}" in result.stdout
        assert f"export HYPELEDGER_KAFKA_BOOTSTRAP_SERVERS={state.kafka_bootstrap_servers}" in (
            result.stdout
        )
        assert all(alive(server.pid) for server in state.servers)
    finally:
        _run("infra", "down", "--state-file", str(state_file))


def test_status_reports_a_running_stack(tmp_path: Path) -> None:
    state_file = tmp_path / "infra.json"
    _up(state_file)

    try:
        result = _run("infra", "status", "--state-file", str(state_file))
    finally:
        _run("infra", "down", "--state-file", str(state_file))

    assert result.returncode == 0, result.stdout
    assert "postgres answers: yes" in result.stdout


def test_up_creates_and_migrates_the_database(tmp_path: Path) -> None:
    state_file = tmp_path / "infra.json"
    state = _up(state_file)

    async def versions() -> list[int]:
        conn = await asyncpg.connect(state.database_url)
        try:
            rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
        finally:
            await conn.close()
        return [row["version"] for row in rows]

    try:
        applied = asyncio.run(versions())
    finally:
        _run("infra", "down", "--state-file", str(state_file))

    assert applied == [migration.version for migration in discover()]


def test_down_leaves_no_process_and_no_files(tmp_path: Path) -> None:
    state_file = tmp_path / "infra.json"
    state = _up(state_file)
    pids = [server.pid for server in state.servers]
    pids += [child for pid in pids for child in descendants(pid)]

    result = _run("infra", "down", "--state-file", str(state_file))

    assert result.returncode == 0, result.stderr
    assert wait_all_gone(pids, within_s=5) == []
    assert state.run_dir is not None
    assert ps_lines(state.run_dir) == []
    assert not Path(state.run_dir).exists()
    assert not state_file.exists()


def test_status_fails_after_down(tmp_path: Path) -> None:
    state_file = tmp_path / "infra.json"
    _up(state_file)
    _run("infra", "down", "--state-file", str(state_file))

    result = _run("infra", "status", "--state-file", str(state_file))

    assert result.returncode == 1


def test_migrate_command_brings_a_database_up_to_date(scratch_database: str) -> None:
    result = _run("migrate", env={"HYPELEDGER_DATABASE_URL": scratch_database})

    assert result.returncode == 0, result.stderr
    assert f"{len(discover())} migration(s) applied" in result.stdout
