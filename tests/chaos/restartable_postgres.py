"""A private Postgres of one test's own, that the test can stop at once and start again.

Durable (``fsync`` and ``synchronous_commit`` on), unlike the suite's shared server: with
``synchronous_commit=off`` an immediate stop loses the last commits the clients were told about,
which is a database losing data, not a restart (the ledger then stops that partition loudly, as
its stored offset went back behind what it had applied).

Built on ``shared.infra.postgres.start_private`` (initdb and the machine's binaries); a restart
runs the server again on the same data directory and port, with the command line the server
recorded in ``postmaster.opts``. An immediate stop is SIGQUIT to the postmaster: no checkpoint,
every connection cut, crash recovery at the next start (``pg_ctl stop -m immediate``).
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import signal
import tempfile
from pathlib import Path

from shared.infra.postgres import start_private, wait_until_answers
from shared.infra.processes import ServerProcess, spawn, stop_group
from shared.infra.reaper import Reaper

START_WITHIN_S = 60.0


class RestartablePostgres:
    """Its data lives in a temporary directory of its own (a test's ``tmp_path`` is private to
    root, and the server runs as ``postgres`` when we are root), removed by ``stop``."""

    def __init__(self) -> None:
        self._run_dir = Path(tempfile.mkdtemp(prefix="hypeledger-restart-pg-"))
        self._servers: list[ServerProcess] = []
        self._reaper = Reaper()
        self.admin_dsn = ""

    def _spawned(self, server: ServerProcess) -> None:
        """Watched by a reaper: never outlives the test run, even when pytest is killed."""
        self._servers.append(server)
        self._reaper.watch(server.pgid, server.stop_signal)

    @property
    def log_path(self) -> Path:
        return self._run_dir / "postgres.log"

    async def start(self) -> str:
        self.admin_dsn = await start_private(
            self._run_dir, fsync=True, timeout_s=START_WITHIN_S, on_spawn=self._spawned
        )
        return self.admin_dsn

    def stop_immediately(self) -> None:
        """SIGQUIT, as ``pg_ctl stop -m immediate``; SIGKILL if it lingers."""
        server = self._servers[-1]
        stop_group(server.pgid, signal.SIGQUIT, grace_s=10.0)
        self._reaper.forget(server.pgid)

    async def restart(self) -> None:
        """Start the server again on its data directory and port; return once it answers."""
        data = self._run_dir / "pgdata"
        opts = (data / "postmaster.opts").read_text()
        # As root the server runs as the data directory's owner (``start_private`` chose it).
        user = pwd.getpwuid(data.stat().st_uid).pw_name if os.geteuid() == 0 else None
        server, _ = spawn(
            "postgres",
            shlex.split(opts),
            log_path=self._run_dir / "postgres.log",
            stop_signal=signal.SIGINT,
            user=user,
            cwd=self._run_dir,
        )
        self._spawned(server)
        await wait_until_answers(self.admin_dsn, timeout_s=START_WITHIN_S, server=server)

    def stop(self) -> None:
        for server in self._servers:
            stop_group(server.pgid, signal.SIGINT, grace_s=10.0)
            self._reaper.forget(server.pgid)
        self._reaper.close()
        shutil.rmtree(self._run_dir, ignore_errors=True)
