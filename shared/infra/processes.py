"""Child processes that never outlive us: own process group, graceful stop, then SIGKILL.

Every server we start runs in a new session (so it is its own process group and a Ctrl-C in the
terminal reaches only us, and we stop it in order). ``stop_group`` signals the whole group, waits,
and escalates to SIGKILL; the reaper (``shared.infra.reaper``) does the same if we die first.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class InfraError(RuntimeError):
    """A server could not be started, did not become healthy, or could not be stopped."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


#: How many times a local server is started, each time on newly chosen ports, when the port
#: chosen for it was taken before it could listen on it (``port_was_taken``).
PORT_ATTEMPTS = 3
#: How the servers' logs say so: Apache Kafka and Postgres (the C library's words), Tansu.
ADDRESS_IN_USE = (b"Address already in use", b"AddrInUse")


def log_size(path: Path) -> int:
    """How far a server's log has been written: where the next start's lines begin."""
    return path.stat().st_size if path.exists() else 0


def port_was_taken(server: ServerProcess, log_offset: int) -> bool:
    """True when ``server`` exited during its start because its address was in use.

    A port ``free_port`` found free can be taken before the server binds it: an outgoing
    connection's local port comes from the same range, and a JVM takes seconds to reach its bind.
    Only the log written since ``log_offset`` (this start's) is read.
    """
    if not server.exited():
        return False
    with server.log_path.open("rb") as log:
        log.seek(log_offset)
        written = log.read()
    return any(words in written for words in ADDRESS_IN_USE)


async def retrying_taken_ports(
    start_once: Callable[[Callable[[ServerProcess], None]], Awaitable[T]],
    *,
    log_path: Path,
    on_spawn: Callable[[ServerProcess], None],
    on_retry: Callable[[], None] = lambda: None,
) -> T:
    """``start_once(track)`` (choose free ports, spawn the server with ``track`` as its
    ``on_spawn``, wait until it answers), started again on newly chosen ports while its server
    exits because a port was taken meanwhile, at most ``PORT_ATTEMPTS`` times in all. Any other
    failure is raised at once. ``on_spawn`` sees every server spawned; ``log_path`` is the log
    each start appends to."""
    spawned: list[ServerProcess] = []

    def track(server: ServerProcess) -> None:
        spawned.append(server)
        on_spawn(server)

    for attempt in range(1, PORT_ATTEMPTS + 1):
        before, log_offset = len(spawned), log_size(log_path)
        try:
            started = await start_once(track)
        except InfraError:
            if attempt == PORT_ATTEMPTS or len(spawned) == before:
                raise
            if not port_was_taken(spawned[-1], log_offset):
                raise
            on_retry()
        else:
            return started
    raise AssertionError("unreachable: the last attempt returns or raises")


def port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts a TCP connection on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass(frozen=True, slots=True)
class ServerProcess:
    """A started server: its pid is also its process group id (it leads a new session)."""

    name: str
    pid: int
    stop_signal: int
    log_path: Path
    popen: subprocess.Popen[bytes] | None = field(default=None, compare=False, repr=False)
    """Set when started by this process (so it can be reaped); None when read back from a file."""

    @property
    def pgid(self) -> int:
        return self.pid

    def exited(self) -> bool:
        """True once the leader process has exited (reaping it when it is our child)."""
        if self.popen is not None:
            return self.popen.poll() is not None
        return not group_alive(self.pgid)


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    log_path: Path,
    stop_signal: int = signal.SIGTERM,
    user: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[ServerProcess, subprocess.Popen[bytes]]:
    """Start ``argv`` as the leader of a new session, output to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        try:
            popen = subprocess.Popen(  # noqa: S603 - argv is built by us, never from input
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=user,
                group=pwd.getpwnam(user).pw_gid if user else None,
                extra_groups=[] if user else None,
                env=dict(env) if env is not None else None,
                cwd=cwd,
            )
        except OSError as exc:
            raise InfraError(f"cannot start {name} ({argv[0]}): {exc}") from exc
    return ServerProcess(name, popen.pid, stop_signal, log_path, popen), popen


def group_alive(pgid: int) -> bool:
    """True while any process of the group ``pgid`` exists (zombies included)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_child(pid: int) -> None:
    """Collect ``pid`` if it is our exited child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def descendants(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (Postgres children start their own sessions, so killing
    the leader's group does not reach them; they are found through their parent links)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (possibly another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _all_gone(pgid: int, family: set[int]) -> bool:
    reap_child(pgid)
    return not group_alive(pgid) and not any(pid_alive(pid) for pid in family)


def stop_group(pgid: int, stop_signal: int = signal.SIGTERM, grace_s: float = 5.0) -> bool:
    """Signal the group, wait up to ``grace_s`` for it to go, then SIGKILL it and its descendants.

    Returns True when it had to be killed. Safe to call on a group that is already gone.
    """
    family = descendants(pgid)
    try:
        os.killpg(pgid, stop_signal)
    except ProcessLookupError:
        reap_child(pgid)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if _all_gone(pgid, family):
            return False
        time.sleep(0.02)
    family |= descendants(pgid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    for pid in family:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        if _all_gone(pgid, family):
            return True
        time.sleep(0.02)
    raise InfraError(f"process group {pgid} survived SIGKILL")


def tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
