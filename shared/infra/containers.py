"""Postgres and Apache Kafka in containers, when a Docker engine answers (testcontainers).

Imports of ``docker`` and ``testcontainers`` happen inside the functions: machines without them
(or without an engine) never pay for them. The containers are removed by ``stop``; if this process
dies first, testcontainers' own reaper container (Ryuk) removes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.infra import apache_kafka
from shared.infra.processes import InfraError, free_port

POSTGRES_IMAGE = "postgres:16-alpine"
KAFKA_IMAGE = apache_kafka.KAFKA_IMAGE


def docker_engine_answers() -> bool:
    """True when a Docker engine answers a ping within 2 s (about 1 ms when there is none)."""
    try:
        import docker  # noqa: PLC0415 - optional, only where containers are used
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - docker raises DockerException, requests and OS errors
        return False


@dataclass(slots=True)
class ContainerHandle:
    name: str
    container: Any
    """The testcontainers object (``DockerContainer``)."""

    @property
    def container_id(self) -> str:
        wrapped = self.container.get_wrapped_container()
        return str(wrapped.id) if wrapped is not None else ""

    def stop(self) -> None:
        self.container.stop()


def start_postgres_container() -> tuple[ContainerHandle, str]:
    """Start ``postgres``; return it and its admin DSN (database ``postgres``)."""
    from testcontainers.community.postgres import PostgresContainer  # noqa: PLC0415

    try:
        container = PostgresContainer(
            POSTGRES_IMAGE,
            username="postgres",
            password="postgres",  # noqa: S106 - a throwaway container, reachable from this host
            dbname="postgres",
            driver=None,
        )
        container.with_command(
            "postgres -c fsync=off -c synchronous_commit=off -c max_connections=300"
        )
        container.start()
    except Exception as exc:
        raise InfraError(f"cannot start the {POSTGRES_IMAGE} container: {exc}") from exc
    dsn = container.get_connection_url(driver=None)
    return ContainerHandle("postgres", container), str(dsn)


def start_kafka_container() -> tuple[ContainerHandle, str]:
    """Start single-node Apache Kafka (KRaft) with its listener on the same port inside and out.

    The advertised listener must name the host port, which a random mapping only reveals after
    the start, so a free host port is chosen first and mapped to itself.
    """
    from testcontainers.core.container import DockerContainer  # noqa: PLC0415

    port = free_port()
    settings = {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": f"PLAINTEXT://0.0.0.0:{port},CONTROLLER://0.0.0.0:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://127.0.0.1:{port}",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_GROUP_MIN_SESSION_TIMEOUT_MS": "500",  # the tests' consumers use 1 s sessions
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "true",
    }
    try:
        container = DockerContainer(KAFKA_IMAGE)
        for key, value in settings.items():
            container.with_env(key, value)
        container.with_bind_ports(port, port)
        container.start()
    except Exception as exc:
        raise InfraError(f"cannot start the {KAFKA_IMAGE} container: {exc}") from exc
    return ContainerHandle("kafka", container), f"127.0.0.1:{port}"


def remove_container(container_id: str) -> None:
    """Remove a container by id (``infra down`` after a detached ``infra up``)."""
    import docker  # noqa: PLC0415
    import docker.errors  # noqa: PLC0415

    client = docker.from_env(timeout=10)
    try:
        client.containers.get(container_id).remove(force=True)
    except docker.errors.NotFound:
        pass
    finally:
        client.close()
