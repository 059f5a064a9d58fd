"""What the process table says, for tests that prove nothing is left running."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterable
from pathlib import Path


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_all_gone(pids: Iterable[int], within_s: float) -> list[int]:
    """Poll until none of ``pids`` is alive; return those still alive at the deadline."""
    pending = list(pids)
    deadline = time.monotonic() + within_s
    while pending and time.monotonic() < deadline:
        pending = [pid for pid in pending if alive(pid)]
        if pending:
            time.sleep(0.05)
    return [pid for pid in pending if alive(pid)]


def ps_lines(needle: str) -> list[str]:
    """``ps`` lines whose command line contains ``needle`` (a run directory, a port...)."""
    out = subprocess.run(
        ["ps", "-eo", "pid,ppid,user,args"], capture_output=True, text=True, check=True, timeout=10
    ).stdout
    return [line for line in out.splitlines() if needle in line]
