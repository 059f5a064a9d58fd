"""The state file of ``infra up``: read back as written, and never trusting a reused pid."""

from __future__ import annotations

import os
from pathlib import Path

from shared.infra.state import InfraState, RecordedServer, read_state, write_state


def _state(servers: list[RecordedServer]) -> InfraState:
    return InfraState(
        database_admin_url="postgresql://postgres@127.0.0.1:5999/postgres",
        database_url="postgresql://postgres@127.0.0.1:5999/hypeledger",
        kafka_bootstrap_servers="127.0.0.1:9999",
        kafka_flavour="tansu",
        postgres_source="private",
        broker_source="tansu",
        run_dir="/run/hypeledger-infra-x",
        servers=servers,
        healthy_after_s=0.8,
    )


def test_state_reads_back_as_written(tmp_path: Path) -> None:
    state = _state([RecordedServer("tansu", 4242, 15, "/run/hypeledger-infra-x/tansu.log")])
    path = tmp_path / ".hypeledger" / "infra.json"

    write_state(state, path)

    assert read_state(path) == state


def test_missing_state_file_reads_as_nothing_running(tmp_path: Path) -> None:
    assert read_state(tmp_path / "absent.json") is None


def test_exports_name_the_servers_for_the_services() -> None:
    exports = _state([]).exports()

    assert exports == {
        "HYPELEDGER_DATABASE_URL": "postgresql://postgres@127.0.0.1:5999/hypeledger",
        "HYPELEDGER_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9999",
        "HYPELEDGER_KAFKA_FLAVOUR": "tansu",
    }


def test_pid_now_running_something_else_is_not_ours() -> None:
    reused = RecordedServer("tansu", os.getpid(), 15, "/nowhere/tansu.log")

    assert reused.is_ours() is False
