"""An Apache Kafka node of a test's own, which the test may SIGKILL and restart on the same log.

The run's shared broker must stay up for every other test, so a test that kills its broker starts
this one instead. It is watched by a reaper like every server the suite starts: it never outlives
the test run, even when pytest itself is killed.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from shared.infra.apache_kafka import KafkaNode, start_apache_kafka
from shared.infra.processes import ServerProcess, stop_group
from shared.infra.reaper import Reaper


class OwnKafka:
    """One local KRaft node: ``bootstrap``, ``kill()`` (SIGKILL) and ``restart()`` (same log)."""

    def __init__(self, run_dir: Path, reaper: Reaper) -> None:
        self._run_dir = run_dir
        self._reaper = reaper
        self._node: KafkaNode | None = None
        self._server: ServerProcess | None = None

    @property
    def bootstrap(self) -> str:
        assert self._node is not None, "start() first"
        return self._node.bootstrap

    @property
    def log_path(self) -> Path:
        assert self._node is not None, "start() first"
        return self._node.log_path

    def _spawned(self, server: ServerProcess) -> None:
        self._server = server
        self._reaper.watch(server.pgid, server.stop_signal)

    async def start(self) -> None:
        """Start the node; after ``kill()`` this restarts it on the same ports and log."""
        self._node = await start_apache_kafka(
            self._run_dir, node=self._node, on_spawn=self._spawned
        )

    async def restart(self) -> None:
        await self.start()

    async def kill(self) -> None:
        """SIGKILL the broker: no flush, no controlled shutdown."""
        await self._stop(signal.SIGKILL)

    async def stop(self) -> None:
        await self._stop(signal.SIGTERM)

    async def _stop(self, how: int) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        await asyncio.to_thread(stop_group, server.pgid, how)
        if server.popen is not None:
            server.popen.poll()
        self._reaper.forget(server.pgid)


@asynccontextmanager
async def own_kafka(run_dir: Path) -> AsyncIterator[OwnKafka]:
    """A started node for the block; stopped (and never leaked) when the block ends."""
    reaper = Reaper()
    broker = OwnKafka(run_dir, reaper)
    try:
        await broker.start()
        yield broker
    finally:
        await broker.stop()
        await asyncio.to_thread(reaper.close)
