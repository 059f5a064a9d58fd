"""Kafka client options follow the settings: idempotence by flavour, timings, manual commits."""

from __future__ import annotations

from shared.kafka import consumer_options, producer_options
from shared.settings import BrokerFlavour, CommonSettings


def test_producer_is_idempotent_on_real_kafka() -> None:
    options = producer_options(CommonSettings(kafka_flavour=BrokerFlavour.KAFKA))

    assert options["enable_idempotence"] is True


def test_producer_is_not_idempotent_on_tansu() -> None:
    options = producer_options(CommonSettings(kafka_flavour=BrokerFlavour.TANSU))

    assert options["enable_idempotence"] is False


def test_producer_waits_for_all_replicas() -> None:
    assert producer_options(CommonSettings())["acks"] == "all"


def test_consumer_takes_its_timings_from_the_settings() -> None:
    settings = CommonSettings(
        kafka_fetch_max_wait_ms=10, kafka_session_timeout_ms=1000, kafka_heartbeat_interval_ms=200
    )

    options = consumer_options(settings, "group")

    assert (
        options["fetch_max_wait_ms"],
        options["session_timeout_ms"],
        options["heartbeat_interval_ms"],
    ) == (10, 1000, 200)


def test_batching_is_off_unless_set_and_follows_the_settings() -> None:
    default = CommonSettings()
    batching = CommonSettings(kafka_fetch_min_bytes=16384, kafka_linger_ms=2)

    assert (
        consumer_options(default, "group")["fetch_min_bytes"],
        producer_options(default)["linger_ms"],
    ) == (1, 0)
    assert (
        consumer_options(batching, "group")["fetch_min_bytes"],
        producer_options(batching)["linger_ms"],
    ) == (16384, 2)


def test_consumer_commits_only_when_told_and_starts_from_the_earliest() -> None:
    options = consumer_options(CommonSettings(), "group")

    assert (options["enable_auto_commit"], options["auto_offset_reset"]) == (False, "earliest")


def test_clients_use_the_configured_bootstrap_servers() -> None:
    settings = CommonSettings(kafka_bootstrap_servers="10.0.0.1:9092,10.0.0.2:9092")

    servers = {
        producer_options(settings)["bootstrap_servers"],
        consumer_options(settings, None)["bootstrap_servers"],
    }

    assert servers == {"10.0.0.1:9092,10.0.0.2:9092"}


def test_reply_topics_roll_over_on_tansu_only_by_default() -> None:
    tansu = CommonSettings(kafka_flavour=BrokerFlavour.TANSU)
    kafka = CommonSettings(kafka_flavour=BrokerFlavour.KAFKA)

    assert (tansu.reply_rollover_after, kafka.reply_rollover_after) == (20_000, 0)


def test_reply_topic_roll_over_is_configurable() -> None:
    settings = CommonSettings(kafka_flavour=BrokerFlavour.KAFKA, kafka_reply_rollover_after=500)

    assert settings.reply_rollover_after == 500


def test_fetches_wait_long_on_kafka_which_wakes_them_on_data_and_briefly_on_tansu() -> None:
    kafka = consumer_options(CommonSettings(kafka_flavour=BrokerFlavour.KAFKA), None)
    tansu = consumer_options(CommonSettings(kafka_flavour=BrokerFlavour.TANSU), None)
    chosen = consumer_options(
        CommonSettings(kafka_flavour=BrokerFlavour.KAFKA, kafka_fetch_max_wait_ms=50), None
    )

    assert (kafka["fetch_max_wait_ms"], tansu["fetch_max_wait_ms"]) == (100, 20)
    assert chosen["fetch_max_wait_ms"] == 50
