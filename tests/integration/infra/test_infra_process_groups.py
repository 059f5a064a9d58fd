"""Stopping a process group: the polite signal first, SIGKILL for whoever ignores it."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from shared.infra.processes import descendants, spawn, stop_group
from tests.process_checks import alive

STUBBORN = "trap '' TERM; echo trapped; sleep 60 & wait"


def wait_for_line(path: Path, line: str, within_s: float = 10.0) -> None:
    """Until the process has written ``line`` (its signal handling is in place by then)."""
    for _ in range(int(within_s / 0.01)):
        if line in path.read_text(encoding="utf-8", errors="replace"):
            return
        time.sleep(0.01)
    raise AssertionError(f"{line!r} never appeared in {path}")


def test_group_that_ignores_its_signal_is_killed(tmp_path: Path) -> None:
    server, _ = spawn("stubborn", ["sh", "-c", STUBBORN], log_path=tmp_path / "log")
    wait_for_line(tmp_path / "log", "trapped")

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
        time.sleep(0.02)

    stop_group(server.pgid, signal.SIGTERM, grace_s=0.3)

    assert family
    assert not any(alive(pid) for pid in family)
