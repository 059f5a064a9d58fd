"""A watchdog process that stops our servers when the process that started them dies.

The parent starts ``python -m shared.infra.reaper <parent-pid>`` with a pipe on its stdin and
writes one line per thing to clean up:

    watch <pgid> <signal>     stop this process group (signal first, SIGKILL after a grace)
    forget <pgid>             the parent stopped it itself
    path <dir>                remove this directory once the groups are gone
    unpath <dir>              the parent removed it itself

When the pipe closes (the parent exited, normally or by SIGKILL: the kernel closes its end) or
the parent pid changes, the reaper stops every watched group, removes the paths and exits. It
runs in its own session and ignores SIGINT, so a Ctrl-C aimed at the parent cannot kill it first.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import types
from pathlib import Path

from shared.infra.processes import InfraError, stop_group

POLL_S = 0.5


class _Cleanup(Exception):
    """Raised from the SIGTERM handler to run the cleanup now."""


def _on_sigterm(_signum: int, _frame: types.FrameType | None) -> None:
    raise _Cleanup


def _watch(parent: int) -> tuple[dict[int, int], list[str]]:
    groups: dict[int, int] = {}
    paths: list[str] = []
    buffer = b""
    fd = sys.stdin.fileno()
    try:
        while os.getppid() == parent:
            readable, _, _ = select.select([fd], [], [], POLL_S)
            if not readable:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                _apply(line.decode(), groups, paths)
    except _Cleanup:
        pass
    return groups, paths


def _apply(line: str, groups: dict[int, int], paths: list[str]) -> None:
    verb, _, rest = line.strip().partition(" ")
    if verb == "watch":
        pgid, signum = rest.split()
        groups[int(pgid)] = int(signum)
    elif verb == "forget":
        groups.pop(int(rest), None)
    elif verb == "path":
        paths.append(rest)
    elif verb == "unpath" and rest in paths:
        paths.remove(rest)


def _clean(groups: dict[int, int], paths: list[str]) -> None:
    for pgid, signum in groups.items():
        with contextlib.suppress(InfraError):
            stop_group(pgid, signum, grace_s=3.0)
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str]) -> int:
    parent = int(argv[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)
    groups, paths = _watch(parent)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _clean(groups, paths)
    return 0


class Reaper:
    """The parent's handle on its reaper process."""

    def __init__(self) -> None:
        self._popen = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "shared.infra.reaper", str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
            cwd=Path(__file__).resolve().parents[2],
        )

    @property
    def pid(self) -> int:
        return self._popen.pid

    def _send(self, line: str) -> None:
        stdin = self._popen.stdin
        if stdin is None or stdin.closed:
            raise InfraError("the reaper is already closed")
        stdin.write(f"{line}\n".encode())
        stdin.flush()

    def watch(self, pgid: int, stop_signal: int) -> None:
        self._send(f"watch {pgid} {int(stop_signal)}")

    def forget(self, pgid: int) -> None:
        self._send(f"forget {pgid}")

    def remove_on_exit(self, path: Path) -> None:
        self._send(f"path {path}")

    def keep(self, path: Path) -> None:
        self._send(f"unpath {path}")

    def close(self, timeout_s: float = 15.0) -> None:
        """Close the pipe: the reaper stops whatever is still watched, then exits."""
        if self._popen.stdin is not None and not self._popen.stdin.closed:
            self._popen.stdin.close()
        try:
            self._popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._popen.kill()
            self._popen.wait()
            raise InfraError("the reaper did not finish in time") from None


if __name__ == "__main__":
    sys.exit(main(sys.argv))
