"""Stopping a process group: the polite signal first, SIGKILL for whoever ignores it."""

from __future__ import annotations

import signal
from pathlib import Path

from shared.infra.processes import descendants, spawn, stop_group
from tests.process_checks import alive

STUBBORN = "trap '' TERM; sleep 60 & wait"


def test_group_that_ignores_its_signal_is_killed(tmp_path: Path) -> None:
    server, _ = spawn("stubborn", ["sh", "-c", STUBBORN], log_path=tmp_path / "log")

    killed = stop_group(server.pgid, signal.SIGTERM, grace_s=0.3)

    assert killed is True
    assert not alive(server.pid)


def test_group_that_obeys_its_signal_is_not_killed(tmp_path: Path) -> None:
    server, _ = spawn("sleeper", ["sleep", "60"], log_path=tmp_path / "log")

    killed = stop_group(server.pgid, signal.SIGTERM)

    assert killed is False
    assert not alive(server.pid)


def test_descendants_in_sessions_of_their_own_are_stopped_too(tmp_path: Path) -> None:
    server, _ = spawn("parent", ["sh", "-c", "setsid sleep 60 & wait"], log_path=tmp_path / "log")
    family: set[int] = set()
    for _ in range(100):
        family = descendants(server.pid)
        if family:
            break
        __import__("time").sleep(0.02)

    stop_group(server.pgid, signal.SIGTERM, grace_s=0.3)

    assert family
    assert not any(alive(pid) for pid in family)
