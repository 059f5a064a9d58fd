"""The local Apache Kafka node's configuration, and when it can run (no process is started)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.infra import apache_kafka
from shared.infra.apache_kafka import KafkaNode, server_properties


def properties(node: KafkaNode) -> dict[str, str]:
    lines = server_properties(node).splitlines()
    return dict(line.split("=", 1) for line in lines)


def test_one_node_is_broker_and_controller_on_loopback_with_its_log_in_the_run_dir() -> None:
    node = KafkaNode(Path("/run/x"), port=19092, controller_port=19093)

    props = properties(node)

    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["log.dirs"] == "/run/x/kafka-data"
    assert node.bootstrap == "127.0.0.1:19092"


def test_settings_fit_one_node_and_fast_tests() -> None:
    props = properties(KafkaNode(Path("/run/x"), port=1, controller_port=2))

    replication = [key for key in props if key.endswith(("replication.factor", "min.isr"))]
    assert replication
    assert {props[key] for key in replication} == {"1"}
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert int(props["group.min.session.timeout.ms"]) <= 1000  # the tests' sessions are 3 s


def test_a_fresh_node_listens_on_two_different_free_ports(tmp_path: Path) -> None:
    node = KafkaNode.fresh(tmp_path)

    assert node.port != node.controller_port


def test_without_java_the_reason_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apache_kafka, "java_binary", lambda: None)

    assert apache_kafka.why_not_available() == "no java on the PATH (and no JAVA_HOME)"


def test_an_old_java_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apache_kafka, "java_binary", lambda: "/opt/java8/bin/java")
    monkeypatch.setattr(apache_kafka, "java_version", lambda _java: 8)

    reason = apache_kafka.why_not_available()

    assert reason is not None
    assert "needs 17+" in reason


def test_cluster_ids_never_start_with_a_dash_which_the_storage_tool_reads_as_an_option() -> None:
    ids = {apache_kafka._cluster_id() for _ in range(2000)}

    assert len(ids) == 2000
    assert not [cluster for cluster in ids if cluster.startswith("-")]
    assert {len(cluster) for cluster in ids} == {22}
