"""Fixtures for the ingress's integration tests: the run's real broker, unique topics per test."""

from __future__ import annotations

from typing import Any

import pytest

from shared.infra.stack import Stack


@pytest.fixture
def kafka_env(infra: Stack, topic_prefix: str) -> dict[str, Any]:
    """Settings kwargs for one test: the run's broker, test timings and a unique topic prefix."""
    return {
        "environment": "test",
        "kafka_bootstrap_servers": infra.kafka_bootstrap_servers,
        "kafka_flavour": infra.kafka_flavour,
        "kafka_session_timeout_ms": 3000,
        "kafka_heartbeat_interval_ms": 300,
        "topic_prefix": topic_prefix,
    }
