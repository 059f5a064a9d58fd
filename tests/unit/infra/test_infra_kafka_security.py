"""Kafka clients reach brokers over TLS and SASL exactly as the settings say."""

from __future__ import annotations

import ssl

import pytest
from pydantic import SecretStr, ValidationError

from shared.kafka import connection_options, consumer_options, producer_options
from shared.settings import CommonSettings


def test_plaintext_is_the_default_and_carries_no_credentials() -> None:
    options = connection_options(CommonSettings())

    assert options["security_protocol"] == "PLAINTEXT"
    assert "sasl_plain_password" not in options
    assert "ssl_context" not in options


def test_sasl_ssl_passes_mechanism_credentials_and_a_tls_context() -> None:
    settings = CommonSettings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-256",
        kafka_sasl_username="ledger",
        kafka_sasl_password=SecretStr("s3cr3t-from-the-vault"),
    )

    options = connection_options(settings)

    assert (
        options["security_protocol"],
        options["sasl_mechanism"],
        options["sasl_plain_username"],
        options["sasl_plain_password"],
    ) == ("SASL_SSL", "SCRAM-SHA-256", "ledger", "s3cr3t-from-the-vault")
    assert isinstance(options["ssl_context"], ssl.SSLContext)


def test_producers_and_consumers_both_use_the_connection_options() -> None:
    settings = CommonSettings(kafka_security_protocol="SSL")

    assert producer_options(settings)["security_protocol"] == "SSL"
    assert consumer_options(settings, "group")["security_protocol"] == "SSL"


def test_refuses_sasl_without_credentials() -> None:
    with pytest.raises(ValidationError, match="KAFKA_SASL_USERNAME"):
        CommonSettings(kafka_security_protocol="SASL_SSL")
