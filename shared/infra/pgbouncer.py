"""PgBouncer in transaction pooling mode in front of a Postgres, for tests and trials.

High-volume operators put PgBouncer (transaction pooling) between their services and Postgres;
``tests/integration/infra/test_pgbouncer.py`` runs the ledger and the operator API through one.
The binary is Debian's ``pgbouncer`` package, found or fetched in this order:

1. ``HYPELEDGER_PGBOUNCER_BIN``, or ``pgbouncer`` on the PATH or in ``/usr/sbin`` (installed);
2. the cache, ``~/.cache/hypeledger/pgbouncer`` (``HYPELEDGER_PGBOUNCER_CACHE`` moves it), where
   3. a first run puts it: ``apt-get download`` of the package and of the libraries it links
      that the machine lacks, unpacked with ``dpkg -x`` (no installation, no root needed; as root
      an ``apt-get update`` is run first when the package lists do not know the package yet).

It listens on a free port of 127.0.0.1, forwards every database name to the Postgres given,
trusts its clients (tests only), and runs as the same unprivileged user as the private Postgres
when we are root (PgBouncer refuses root).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from shared.infra.postgres import DEFAULT_SUPERUSER, server_user, wait_until_answers
from shared.infra.processes import InfraError, ServerProcess, free_port, spawn

PACKAGE = "pgbouncer"
#: The libraries ``pgbouncer`` links, by soname, with the Debian package that ships each.
LIBRARY_PACKAGES = {
    "libcares.so.2": "libc-ares2",
    "libevent-2.1.so.7": "libevent-2.1-7",
    "libssl.so.3": "libssl3",
    "libcrypto.so.3": "libssl3",
    "libpam.so.0": "libpam0g",
    "libsystemd.so.0": "libsystemd0",
}
LIBRARY_DIR = Path("usr/lib/x86_64-linux-gnu")
FETCH_WITHIN_S = 300.0

Progress = Callable[[str], None]


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


@dataclass(frozen=True, slots=True)
class Binary:
    """How to run PgBouncer: the executable and the library path it needs (empty if none)."""

    path: Path
    library_path: str = ""

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.library_path:
            env["LD_LIBRARY_PATH"] = self.library_path
        return env


def cache_dir() -> Path:
    override = os.environ.get("HYPELEDGER_PGBOUNCER_CACHE")
    return (Path(override) if override else Path.home() / ".cache" / "hypeledger") / PACKAGE


def installed() -> Binary | None:
    override = os.environ.get("HYPELEDGER_PGBOUNCER_BIN")
    if override:
        return Binary(Path(override))
    found = shutil.which(PACKAGE) or (
        "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").is_file() else None
    )
    return Binary(Path(found)) if found else None


def _cached() -> Binary | None:
    root = cache_dir() / "root"
    path = root / "usr" / "sbin" / PACKAGE
    if not path.is_file() or not (cache_dir() / "complete").is_file():
        return None
    return Binary(path, str(root / LIBRARY_DIR))


def binary(progress: Progress = _stderr) -> Binary:
    """PgBouncer's binary: installed, cached, or fetched into the cache now (one process at once)."""
    found = installed() or _cached()
    if found is not None:
        return found
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second run waits for the first one's download
        found = _cached()
        if found is None:
            _fetch(directory, progress)
            found = _cached()
    if found is None:
        raise InfraError(f"PgBouncer: nothing usable was unpacked into {directory}")
    return found


def _fetch(directory: Path, progress: Progress) -> None:
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        raise InfraError("PgBouncer is not installed, and there is no apt-get/dpkg to fetch it")
    progress(f"PgBouncer: fetching Debian's {PACKAGE} package into {directory} (first run only)")
    debs = directory / "debs"
    root = directory / "root"
    shutil.rmtree(debs, ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)
    debs.mkdir()
    _download(debs, [PACKAGE])
    _unpack(debs, root)
    missing = sorted(
        {LIBRARY_PACKAGES[name] for name in _missing_libraries(root) if name in LIBRARY_PACKAGES}
    )
    if missing:
        progress(f"PgBouncer: fetching the libraries it needs: {', '.join(missing)}")
        _download(debs, missing)
        _unpack(debs, root)
    still = _missing_libraries(root)
    if still:
        raise InfraError(f"PgBouncer: libraries still missing after the fetch: {', '.join(still)}")
    (directory / "complete").write_text("")


def _download(debs: Path, packages: list[str]) -> None:
    """``apt-get download`` into ``debs``; as root, ``apt-get update`` once if that fails."""
    argv = ["apt-get", "download", *packages]
    if _run(argv, debs) == 0:
        return
    if os.geteuid() == 0 and _run(["apt-get", "update"], debs) == 0 and _run(argv, debs) == 0:
        return
    raise InfraError(
        f"PgBouncer: `apt-get download {' '.join(packages)}` failed (run `apt-get update` first, "
        "or install the pgbouncer package)"
    )


def _run(argv: list[str], cwd: Path) -> int:
    try:
        done = subprocess.run(  # noqa: S603 - fixed apt/dpkg commands, package names from above
            argv, cwd=cwd, capture_output=True, timeout=FETCH_WITHIN_S, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return -1
    return done.returncode


def _unpack(debs: Path, root: Path) -> None:
    for deb in sorted(debs.glob("*.deb")):
        if _run(["dpkg", "-x", str(deb), str(root)], debs) != 0:
            raise InfraError(f"PgBouncer: `dpkg -x {deb.name}` failed")


def _missing_libraries(root: Path) -> list[str]:
    """The sonames ``ldd`` cannot find for the unpacked binary, with the unpacked libraries."""
    env = Binary(root / "usr" / "sbin" / PACKAGE, str(root / LIBRARY_DIR)).env()
    try:
        out = subprocess.run(  # noqa: S603 - ldd of the binary we unpacked
            ["ldd", str(root / "usr" / "sbin" / PACKAGE)],  # noqa: S607 - ldd from the PATH
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise InfraError(f"PgBouncer: cannot run ldd: {exc}") from exc
    return re.findall(r"^\s*(\S+) => not found", out, flags=re.MULTILINE)


def config(postgres_host: str, postgres_port: int, port: int, userlist: Path) -> str:
    """``pgbouncer.ini``: transaction pooling, every database to one Postgres, trusted clients."""
    return "\n".join([
        "[databases]",
        f"* = host={postgres_host} port={postgres_port}",
        "[pgbouncer]",
        "listen_addr = 127.0.0.1",
        f"listen_port = {port}",
        "unix_socket_dir =",
        "auth_type = trust",
        f"auth_file = {userlist}",
        "pool_mode = transaction",
        "max_client_conn = 500",
        "default_pool_size = 20",
        "server_reset_query =",
        "",
    ])  # fmt: skip


def _write_files(run_dir: Path, user: str, host: str, postgres_port: int, port: int) -> Path:
    """The user list (``user`` and the superuser) and ``pgbouncer.ini``; returns the ini's path."""
    run_dir.mkdir(parents=True, exist_ok=True)
    userlist = run_dir / "userlist.txt"
    users = sorted({user, DEFAULT_SUPERUSER})
    userlist.write_text("".join(f'"{name}" ""\n' for name in users))
    ini = run_dir / "pgbouncer.ini"
    ini.write_text(config(host, postgres_port, port, userlist))
    return ini


async def start_pgbouncer(
    run_dir: Path,
    postgres_dsn: str,
    *,
    timeout_s: float = 30.0,
    on_spawn: Callable[[ServerProcess], None] = lambda _server: None,
) -> str:
    """Start PgBouncer in front of ``postgres_dsn``'s server; return ``postgres_dsn`` through it.

    ``on_spawn`` gets the process as soon as it is started, so the caller stops it whatever
    happens next (``shared.infra.processes.stop_group``).
    """
    found = await asyncio.to_thread(binary)
    target = urlsplit(postgres_dsn)
    user = target.username or "postgres"
    port = free_port()
    ini = _write_files(run_dir, user, target.hostname or "127.0.0.1", target.port or 5432, port)
    argv = [str(found.path)]
    system_user = server_user()
    if system_user is not None:  # root: PgBouncer drops to this user after reading its files
        argv += ["-u", system_user]
    server, _ = spawn(
        "pgbouncer", [*argv, str(ini)], log_path=run_dir / "pgbouncer.log",
        stop_signal=signal.SIGINT, env=found.env(), cwd=run_dir,
    )  # fmt: skip
    on_spawn(server)
    netloc = f"{user}@127.0.0.1:{port}"
    through = urlunsplit((target.scheme, netloc, target.path, target.query, ""))
    await wait_until_answers(through, timeout_s=timeout_s, server=server)
    return through


def main() -> None:
    """``python -m shared.infra.pgbouncer``: find or fetch the binary now, and say where it is."""
    found = binary()
    _stderr(f"PgBouncer: {found.path}")


if __name__ == "__main__":
    main()
