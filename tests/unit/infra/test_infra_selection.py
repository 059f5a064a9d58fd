"""Where Postgres and the broker come from: the selection order, with fake probes."""

from __future__ import annotations

import pytest

from shared.infra.processes import InfraError
from shared.infra.selection import BrokerSource, Plan, PostgresSource, choose
from shared.settings import BrokerFlavour


class Probes:
    """Fake probes that answer as told and count how often they were asked."""

    def __init__(
        self, *, docker: bool = False, running_postgres: bool = False, java: bool = True
    ) -> None:
        self.docker = docker
        self.running_postgres = running_postgres
        self.java = java
        self.docker_calls = 0
        self.postgres_calls = 0
        self.java_calls = 0

    def local_kafka_available(self) -> bool:
        self.java_calls += 1
        return self.java

    def docker_answers(self) -> bool:
        self.docker_calls += 1
        return self.docker

    async def running_postgres_answers(self) -> bool:
        self.postgres_calls += 1
        return self.running_postgres

    async def choose(self, env: dict[str, str]) -> Plan:
        return await choose(
            env,
            docker_answers=self.docker_answers,
            running_postgres_answers=self.running_postgres_answers,
            local_kafka_available=self.local_kafka_available,
        )


ENV_SERVERS = {
    "HYPELEDGER_DATABASE_URL": "postgresql://app@db.internal:5432/hypeledger",
    "HYPELEDGER_KAFKA_BOOTSTRAP_SERVERS": "kafka.internal:9092",
}


async def test_environment_servers_win_without_probing_anything() -> None:
    probes = Probes(docker=True, running_postgres=True)

    plan = await probes.choose(ENV_SERVERS)

    assert (plan.postgres, plan.broker) == (PostgresSource.ENV, BrokerSource.ENV)
    assert (probes.docker_calls, probes.postgres_calls) == (0, 0)


async def test_environment_broker_is_real_kafka_unless_the_flavour_says_tansu() -> None:
    probes = Probes()

    default = await probes.choose(ENV_SERVERS)
    tansu = await probes.choose({**ENV_SERVERS, "HYPELEDGER_KAFKA_FLAVOUR": "tansu"})

    assert (default.kafka_flavour, tansu.kafka_flavour) == (
        BrokerFlavour.KAFKA,
        BrokerFlavour.TANSU,
    )


async def test_docker_engine_gives_containers_and_real_kafka() -> None:
    probes = Probes(docker=True, running_postgres=True)

    plan = await probes.choose({})

    assert plan == Plan(PostgresSource.CONTAINER, BrokerSource.CONTAINER, BrokerFlavour.KAFKA)
    assert probes.docker_calls == 1


async def test_without_docker_a_running_postgres_and_a_local_apache_kafka_are_used() -> None:
    probes = Probes(docker=False, running_postgres=True, java=True)

    plan = await probes.choose({})

    assert plan == Plan(PostgresSource.RUNNING, BrokerSource.KAFKA, BrokerFlavour.KAFKA)


async def test_tansu_stands_in_only_where_apache_kafka_cannot_run() -> None:
    probes = Probes(docker=False, running_postgres=True, java=False)

    plan = await probes.choose({})

    assert plan == Plan(PostgresSource.RUNNING, BrokerSource.TANSU, BrokerFlavour.TANSU)


async def test_containers_win_over_a_local_apache_kafka_without_asking_for_java() -> None:
    probes = Probes(docker=True, java=True)

    plan = await probes.choose({})

    assert (plan.broker, probes.java_calls) == (BrokerSource.CONTAINER, 0)


async def test_override_forces_a_local_apache_kafka_over_an_environment_broker() -> None:
    plan = await Probes().choose({**ENV_SERVERS, "HYPELEDGER_INFRA_BROKER": "kafka"})

    assert (plan.broker, plan.kafka_flavour) == (BrokerSource.KAFKA, BrokerFlavour.KAFKA)


async def test_without_docker_or_a_running_postgres_a_private_one_is_started() -> None:
    probes = Probes(docker=False, running_postgres=False)

    plan = await probes.choose({})

    assert plan.postgres is PostgresSource.PRIVATE


async def test_override_forces_a_private_postgres_even_when_one_answers() -> None:
    probes = Probes(docker=False, running_postgres=True)

    plan = await probes.choose({"HYPELEDGER_INFRA_POSTGRES": "private"})

    assert plan.postgres is PostgresSource.PRIVATE
    assert probes.postgres_calls == 0


async def test_test_postgres_variable_is_an_alias_of_the_override() -> None:
    plan = await Probes(running_postgres=True).choose({"HYPELEDGER_TEST_POSTGRES": "private"})

    assert plan.postgres is PostgresSource.PRIVATE


async def test_override_forces_tansu_over_an_environment_broker() -> None:
    plan = await Probes().choose({**ENV_SERVERS, "HYPELEDGER_INFRA_BROKER": "tansu"})

    assert (plan.broker, plan.kafka_flavour) == (BrokerSource.TANSU, BrokerFlavour.TANSU)


async def test_auto_override_falls_through_to_the_normal_order() -> None:
    plan = await Probes(running_postgres=True).choose({"HYPELEDGER_INFRA_POSTGRES": "auto"})

    assert plan.postgres is PostgresSource.RUNNING


async def test_unknown_override_value_is_refused() -> None:
    with pytest.raises(InfraError, match="HYPELEDGER_INFRA_BROKER"):
        await Probes().choose({"HYPELEDGER_INFRA_BROKER": "redpanda"})


async def test_env_override_without_a_database_url_is_refused() -> None:
    with pytest.raises(InfraError, match="HYPELEDGER_DATABASE_URL"):
        await Probes().choose({"HYPELEDGER_INFRA_POSTGRES": "env"})


async def test_unknown_flavour_is_refused() -> None:
    with pytest.raises(InfraError, match="HYPELEDGER_KAFKA_FLAVOUR"):
        await Probes().choose({**ENV_SERVERS, "HYPELEDGER_KAFKA_FLAVOUR": "redpanda"})


async def test_docker_is_probed_once_for_both_servers() -> None:
    probes = Probes(docker=False, running_postgres=False)

    await probes.choose({})

    assert probes.docker_calls == 1
