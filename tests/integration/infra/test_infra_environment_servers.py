"""Servers named in the environment are used as they are: nothing is started or stopped."""

from __future__ import annotations

from shared.infra.processes import port_answers
from shared.infra.selection import BrokerSource, PostgresSource
from shared.infra.stack import Stack, local_stack


def _environment(infra: Stack) -> dict[str, str]:
    return {
        "HYPELEDGER_DATABASE_URL": infra.database_admin_url,
        "HYPELEDGER_KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
        "HYPELEDGER_KAFKA_FLAVOUR": infra.kafka_flavour.value,
    }


async def test_stack_from_the_environment_uses_those_servers(infra: Stack) -> None:
    async with local_stack(_environment(infra)) as stack:
        used = (stack.database_admin_url, stack.kafka_bootstrap_servers, stack.kafka_flavour)

    assert used == (infra.database_admin_url, infra.kafka_bootstrap_servers, infra.kafka_flavour)
    assert (stack.plan.postgres, stack.plan.broker) == (PostgresSource.ENV, BrokerSource.ENV)


async def test_stack_from_the_environment_starts_no_process(infra: Stack) -> None:
    async with local_stack(_environment(infra)) as stack:
        started = list(stack.servers)

    assert started == []
    assert stack.run_dir is None


async def test_leaving_a_stack_from_the_environment_leaves_its_servers_running(
    infra: Stack,
) -> None:
    async with local_stack(_environment(infra)):
        pass

    host, _, port = infra.kafka_bootstrap_servers.rpartition(":")
    assert port_answers(host, int(port))
