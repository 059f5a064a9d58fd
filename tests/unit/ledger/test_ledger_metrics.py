"""The ledger's metrics follow its assignment: a revoked partition's lag is no longer reported."""

from __future__ import annotations

from typing import Any, cast

from aiokafka import TopicPartition

from services.ledger.app import policy_of
from services.ledger.consumer import LedgerConsumer
from services.ledger.faults import Faults
from services.ledger.metrics import LedgerMetrics
from services.ledger.settings import LedgerSettings

SETTINGS = LedgerSettings(
    environment="test",
    database_url="postgresql://postgres@127.0.0.1:1/unused",
    kafka_bootstrap_servers="127.0.0.1:1",
)


def lag_partitions(metrics: LedgerMetrics) -> set[str]:
    return {
        sample.labels["partition"]
        for family in metrics.registry.collect()
        if family.name == "hypeledger_ledger_consumer_lag"
        for sample in family.samples
    }


async def test_a_revoked_partition_stops_reporting_its_lag() -> None:
    metrics = LedgerMetrics()
    ledger = LedgerConsumer(
        SETTINGS,
        cast(Any, None),  # not started: revocation without a consumer touches neither
        cast(Any, None),
        metrics=metrics,
        policy=policy_of(SETTINGS),
        faults=Faults(),
    )
    topic = SETTINGS.topic("wallet.commands.v1")
    for partition in (0, 1, 2):
        metrics.consumer_lag.labels(str(partition)).set(7)

    await ledger.revoked([TopicPartition(topic, 0), TopicPartition(topic, 2)])

    assert lag_partitions(metrics) == {"1"}
