"""A local server whose port is taken between choosing it and listening on it starts again on
other ports by itself.

A port the OS reports free can be taken before the server binds it: an outgoing connection's
local port comes from the same range, and the JVM takes seconds to reach its bind. A test run
failed that way (Apache Kafka: "Socket server failed to bind to 127.0.0.1:49339: Address already
in use"). Here the first port each start chooses is held by a listening socket of the test's.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import asyncpg
import pytest

from shared.infra import apache_kafka, broker, postgres, processes
from shared.infra.processes import ServerProcess, stop_group
from shared.infra.stack import local_stack

pytestmark = pytest.mark.integration


@contextmanager
def a_taken_port() -> Iterator[int]:
    """A port with a listener of this test's on it, for the block."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def taken_first(port: int) -> Callable[..., int]:
    """``free_port`` as a module sees it: ``port`` on the first call, free ports after it."""
    calls = iter([port])

    def free_port(host: str = "127.0.0.1") -> int:
        return next(calls, None) or processes.free_port(host)

    return free_port


@contextmanager
def spawned() -> Iterator[list[ServerProcess]]:
    """The servers a start spawns, each stopped at the end of the block."""
    servers: list[ServerProcess] = []
    try:
        yield servers
    finally:
        for server in servers:
            stop_group(server.pgid, server.stop_signal, grace_s=10.0)


@pytest.fixture
def run_dir() -> Iterator[Path]:
    """A directory a server running as another user (Postgres, when we are root) can enter."""
    path = Path(tempfile.mkdtemp(prefix="hypeledger-port-taken-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


async def start_kafka(run_dir: Path, on_spawn: Callable[[ServerProcess], None]) -> str:
    node = await apache_kafka.start_apache_kafka(run_dir / "kafka", on_spawn=on_spawn)
    return node.bootstrap


#: Each local broker: the module whose ``free_port`` it calls, and how to start it.
BROKERS: dict[str, tuple[ModuleType, Callable[..., Awaitable[str]]]] = {
    "kafka": (apache_kafka, start_kafka),
    "tansu": (broker, broker.start_tansu),
}


@pytest.mark.parametrize("name", sorted(BROKERS))
async def test_a_broker_starts_on_other_ports_when_its_port_was_taken(
    name: str, run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module, start = BROKERS[name]
    with a_taken_port() as taken, spawned() as servers:
        monkeypatch.setattr(module, "free_port", taken_first(taken))

        bootstrap = await start(run_dir, on_spawn=servers.append)

        assert bootstrap != f"127.0.0.1:{taken}"
        assert await broker.broker_answers(bootstrap)
        assert len(servers) == 2
        assert servers[0].exited()


async def test_private_postgres_starts_on_another_port_when_its_port_was_taken(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with a_taken_port() as taken, spawned() as servers:
        monkeypatch.setattr(postgres, "free_port", taken_first(taken))

        dsn = await postgres.start_private(run_dir, on_spawn=servers.append)

        conn = await asyncpg.connect(dsn)
        try:
            port = int(await conn.fetchval("SHOW port"))
        finally:
            await conn.close()
        assert port != taken
        assert len(servers) == 2
        assert servers[0].exited()


async def test_a_stack_lists_only_the_servers_that_run_after_a_start_on_other_ports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server that exited is not left in the stack (nor in ``infra up``'s state file): its pid
    may be another process's by the time the stack is stopped."""
    with a_taken_port() as taken:
        monkeypatch.setattr(apache_kafka, "free_port", taken_first(taken))
        env = {"HYPELEDGER_INFRA_POSTGRES": "private", "HYPELEDGER_INFRA_BROKER": "kafka"}
        async with local_stack(env) as stack:
            listed = [(server.name, server.exited()) for server in stack.servers]

    assert sorted(listed) == [("kafka", False), ("postgres", False)]
    assert not stack.kafka_bootstrap_servers.endswith(f":{taken}")
