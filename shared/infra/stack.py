"""A Postgres and a Kafka-protocol broker, started together, stopped together, never leaked.

``local_stack()`` is the API for tests and the demo::

    async with local_stack() as stack:
        stack.database_admin_url, stack.kafka_bootstrap_servers, stack.kafka_flavour

Servers we start run in their own process groups and are watched by a reaper process, so they
stop when the block exits, on Ctrl-C, and when this process is killed outright. ``start_stack``
with ``detached=True`` (``hypeledger infra up``) leaves them running for ``stop_stack`` later.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.infra import apache_kafka, broker, containers, postgres
from shared.infra.processes import ServerProcess, stop_group
from shared.infra.reaper import Reaper
from shared.infra.selection import (
    BOOTSTRAP_SERVERS,
    DATABASE_URL,
    RUNNING_POSTGRES_URL,
    BrokerSource,
    Plan,
    PostgresSource,
    choose,
)
from shared.logs import get_logger
from shared.settings import BROKER_PROFILES, BrokerFlavour

#: The stack must answer within this many seconds of being asked to start (a first run's jar
#: download is not counted: it happens before the broker starts).
HEALTHY_WITHIN_S = 60.0

_log = get_logger("hypeledger.infra")


@dataclass(slots=True)
class Stack:
    """Where the stack's servers listen, and what to stop."""

    database_admin_url: str
    """DSN of the server's maintenance database; create per-run databases through it."""
    kafka_bootstrap_servers: str
    kafka_flavour: BrokerFlavour
    plan: Plan
    run_dir: Path | None = None
    servers: list[ServerProcess] = field(default_factory=list)
    containers: list[containers.ContainerHandle] = field(default_factory=list)


def running_server_url(env: Mapping[str, str]) -> str:
    """Where a Postgres already running on this machine is looked for (``127.0.0.1:5432``)."""
    return env.get(RUNNING_POSTGRES_URL) or postgres.RUNNING_SERVER_URL


async def plan_for(env: Mapping[str, str]) -> Plan:
    return await choose(
        env,
        docker_answers=containers.docker_engine_answers,
        running_postgres_answers=lambda: postgres.server_answers(running_server_url(env)),
        local_kafka_available=lambda: apache_kafka.why_not_available() is None,
    )


def describe(plan: Plan) -> str:
    """One line naming where Postgres and the broker come from, for headers and logs."""
    broker_name = {
        BrokerSource.ENV: "the broker at $HYPELEDGER_KAFKA_BOOTSTRAP_SERVERS",
        BrokerSource.CONTAINER: f"Apache Kafka {apache_kafka.KAFKA_VERSION} (container)",
        BrokerSource.KAFKA: f"Apache Kafka {apache_kafka.KAFKA_VERSION} (local KRaft node)",
        BrokerSource.TANSU: "Tansu (in-memory fallback)",
    }[plan.broker]
    idempotent = "on" if BROKER_PROFILES[plan.kafka_flavour].idempotent_producer else "off"
    return (
        f"postgres: {plan.postgres.value}; broker: {broker_name}; "
        f"flavour {plan.kafka_flavour} (idempotent producer {idempotent})"
    )


def _announce_tansu(env: Mapping[str, str]) -> None:
    """Say loudly why the run is on Tansu: it is not the broker users run."""
    reason = apache_kafka.why_not_available() or "chosen by HYPELEDGER_INFRA_BROKER=tansu"
    message = (
        "!! The broker is Tansu, an in-memory Kafka-protocol stand-in, not Apache Kafka "
        f"({reason}). Idempotent producing and broker durability are not exercised."
    )
    sys.stderr.write(message + "\n")
    _log.warning("infra.broker.tansu", reason=reason)


def _needs_processes(plan: Plan) -> bool:
    return plan.postgres is PostgresSource.PRIVATE or plan.broker in (
        BrokerSource.KAFKA,
        BrokerSource.TANSU,
    )


async def start_stack(
    env: Mapping[str, str] | None = None,
    *,
    reaper: Reaper | None = None,
    detached: bool = False,
    timeout_s: float = HEALTHY_WITHIN_S,
) -> Stack:
    """Start (or find) Postgres and a broker per the selection order and wait until both answer.

    Pass a ``reaper`` to have the started servers stopped if this process dies. With
    ``detached=True`` containers are not tied to this process either (``stop_stack`` removes them).
    """
    env = os.environ if env is None else env
    plan = await plan_for(env)
    uses_containers = (
        plan.postgres is PostgresSource.CONTAINER or plan.broker is BrokerSource.CONTAINER
    )
    if detached and uses_containers:
        _disable_container_reaper()
    stack = Stack("", "", plan.kafka_flavour, plan)
    if _needs_processes(plan):
        stack.run_dir = Path(tempfile.mkdtemp(prefix="hypeledger-infra-"))
        stack.run_dir.chmod(0o755)  # a private Postgres runs as another user below it
        if reaper is not None:
            reaper.remove_on_exit(stack.run_dir)
    try:
        stack.database_admin_url, stack.kafka_bootstrap_servers = await _both(
            _start_postgres(stack, env, reaper, timeout_s),
            _start_broker(stack, env, reaper, timeout_s),
        )
    except BaseException:
        await stop_stack(stack, reaper=reaper)
        raise
    _forget_exited(stack, reaper)
    return stack


def _forget_exited(stack: Stack, reaper: Reaper | None) -> None:
    """Drop the servers that exited during the start (one whose port was taken, started again on
    others): nothing of theirs is left to stop, a state file should not list them, and their
    pids may be another process's later."""
    for server in [server for server in stack.servers if server.exited()]:
        stack.servers.remove(server)
        if reaper is not None:
            reaper.forget(server.pgid)


async def _both(
    first: Coroutine[Any, Any, str], second: Coroutine[Any, Any, str]
) -> tuple[str, str]:
    """Run both concurrently; if one fails, cancel the other and raise the first failure."""
    tasks = [asyncio.ensure_future(first), asyncio.ensure_future(second)]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        failure = None if task.cancelled() else task.exception()
        if failure is not None:
            raise failure
    return tasks[0].result(), tasks[1].result()


async def _start_postgres(
    stack: Stack, env: Mapping[str, str], reaper: Reaper | None, timeout_s: float
) -> str:
    source = stack.plan.postgres
    if source is PostgresSource.ENV:
        dsn = env[DATABASE_URL]
    elif source is PostgresSource.RUNNING:
        dsn = running_server_url(env)
    elif source is PostgresSource.CONTAINER:
        handle, dsn = await asyncio.to_thread(containers.start_postgres_container)
        stack.containers.append(handle)
    else:
        assert stack.run_dir is not None  # noqa: S101 - set by start_stack for this source
        pg_dir = stack.run_dir / "postgres"
        pg_dir.mkdir()
        return await postgres.start_private(
            pg_dir, timeout_s=timeout_s, on_spawn=_tracker(stack, reaper)
        )
    await postgres.wait_until_answers(dsn, timeout_s=timeout_s)
    return dsn


async def _start_broker(
    stack: Stack, env: Mapping[str, str], reaper: Reaper | None, timeout_s: float
) -> str:
    source = stack.plan.broker
    if source is BrokerSource.ENV:
        bootstrap = env[BOOTSTRAP_SERVERS]
    elif source is BrokerSource.CONTAINER:
        handle, bootstrap = await asyncio.to_thread(containers.start_kafka_container)
        stack.containers.append(handle)
    elif source is BrokerSource.KAFKA:
        assert stack.run_dir is not None  # noqa: S101 - set by start_stack for this source
        node = await apache_kafka.start_apache_kafka(
            stack.run_dir / "kafka", timeout_s=timeout_s, on_spawn=_tracker(stack, reaper)
        )
        return node.bootstrap
    else:
        assert stack.run_dir is not None  # noqa: S101 - set by start_stack for this source
        _announce_tansu(env)
        return await broker.start_tansu(
            stack.run_dir, timeout_s=timeout_s, on_spawn=_tracker(stack, reaper)
        )
    await broker.wait_until_answers(bootstrap, timeout_s=timeout_s)
    return bootstrap


def _tracker(stack: Stack, reaper: Reaper | None) -> Callable[[ServerProcess], None]:
    """Record a server the moment it is spawned, before waiting for it to answer."""

    def track(server: ServerProcess) -> None:
        if reaper is not None:
            reaper.watch(server.pgid, server.stop_signal)
        stack.servers.append(server)

    return track


async def stop_stack(stack: Stack, *, reaper: Reaper | None = None) -> None:
    """Stop every server and container of ``stack`` and remove its files. Idempotent."""
    for server in reversed(stack.servers):
        await asyncio.to_thread(stop_group, server.pgid, server.stop_signal)
        if server.popen is not None:
            server.popen.poll()  # let the Popen object see the exit stop_group reaped
        if reaper is not None:
            reaper.forget(server.pgid)
    stack.servers.clear()
    for handle in reversed(stack.containers):
        await asyncio.to_thread(handle.stop)
    stack.containers.clear()
    if stack.run_dir is not None:
        shutil.rmtree(stack.run_dir, ignore_errors=True)
        if reaper is not None:
            reaper.keep(stack.run_dir)


@contextlib.asynccontextmanager
async def local_stack(
    env: Mapping[str, str] | None = None, *, timeout_s: float = HEALTHY_WITHIN_S
) -> AsyncIterator[Stack]:
    """Start a stack for the duration of the block; nothing of it survives the block or us."""
    reaper = Reaper()
    try:
        stack = await start_stack(env, reaper=reaper, timeout_s=timeout_s)
        try:
            yield stack
        finally:
            await stop_stack(stack, reaper=reaper)
    finally:
        await asyncio.to_thread(reaper.close)


def _disable_container_reaper() -> None:
    from testcontainers.core.config import testcontainers_config  # noqa: PLC0415

    testcontainers_config.ryuk_disabled = True
