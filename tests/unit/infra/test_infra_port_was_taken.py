"""Which failed starts are started again on other ports: only a server that exited during its
start and whose log, since that start, says its address was in use."""

from __future__ import annotations

import sys
from pathlib import Path

from shared.infra.processes import ServerProcess, log_size, port_was_taken, spawn


def exited_server(log: Path, says: str) -> ServerProcess:
    """A server that wrote ``says`` to its log and exited."""
    server, popen = spawn(
        "server", [sys.executable, "-c", f"print({says!r})"], log_path=log, cwd=log.parent
    )
    popen.wait(timeout=30)
    return server


def test_a_server_that_exited_saying_its_address_was_in_use_had_its_port_taken(
    tmp_path: Path,
) -> None:
    log = tmp_path / "server.log"

    server = exited_server(log, "bind failed: Address already in use")

    assert port_was_taken(server, 0)


def test_tansus_words_for_it_count_too(tmp_path: Path) -> None:
    log = tmp_path / "server.log"

    server = exited_server(log, 'err=Os { code: 98, kind: AddrInUse, message: "Address in use" }')

    assert port_was_taken(server, 0)


def test_a_server_that_exited_for_another_reason_did_not(tmp_path: Path) -> None:
    log = tmp_path / "server.log"

    server = exited_server(log, "node.id must be a number")

    assert not port_was_taken(server, 0)


def test_only_the_log_of_the_last_start_counts(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    exited_server(log, "bind failed: Address already in use")
    offset = log_size(log)

    server = exited_server(log, "node.id must be a number")

    assert offset > 0
    assert not port_was_taken(server, offset)


def test_a_server_still_running_did_not(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    argv = [sys.executable, "-c", "print('Address already in use'); import time; time.sleep(60)"]
    server, popen = spawn("server", argv, log_path=log, cwd=tmp_path)
    try:
        assert not port_was_taken(server, 0)
    finally:
        popen.kill()
        popen.wait(timeout=30)


def test_the_size_of_a_log_not_written_yet_is_zero(tmp_path: Path) -> None:
    assert log_size(tmp_path / "none.log") == 0
