"""Typed settings, read from the environment with the ``HYPELEDGER_`` prefix.

What every service reads is here: the database, the broker, the environment, logging, the keys it
signs and verifies with, and how secrets are checked. Each service's own settings class is in its
own package (``services/<service>/settings.py``), built on ``CommonSettings``; the Hypetech client's
in ``shared/hypetech/settings.py``. Each service builds its settings object once in its composition
root and passes it down; nothing here is instantiated at import time. Secrets have no defaults, and placeholder secrets are refused
outside development.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.command_auth import DEVELOPMENT_KEY, DEVELOPMENT_KEY_ID, Signer, Verifier
from shared.logs import LogFormat

PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "secret", "placeholder", "dev", "test", "xxx"}
)

#: Shortest secret accepted in production where hypeledger's operator chooses it (operator tokens,
#: the metrics token): 32 characters, e.g. ``openssl rand -hex 16``.
MIN_SECRET_LENGTH = 32
#: Shortest secret accepted in production where Hypetech issues it (webhook API keys, the REST
#: token): their length is Hypetech's choice, so the floor is lower.
MIN_PROVIDER_SECRET_LENGTH = 16


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class BrokerFlavour(StrEnum):
    """Which Kafka-protocol broker is behind the bootstrap servers (configuration only).

    ``kafka`` is Apache Kafka: production, and the tests, demo and benchmarks wherever Java runs.
    ``tansu`` is the in-memory fallback broker for machines without Java. Everything that differs
    between the two is in ``BROKER_PROFILES`` below, and nowhere else.
    """

    KAFKA = "kafka"
    TANSU = "tansu"


@dataclass(frozen=True, slots=True)
class BrokerProfile:
    """The client defaults that depend on the broker (each can still be set explicitly)."""

    idempotent_producer: bool
    """Tansu refuses InitProducerId, so its producers cannot be idempotent."""
    fetch_max_wait_ms: int
    """Apache Kafka answers a parked fetch as soon as data arrives, so the wait costs no latency
    in steady state; but a partition resumed or sought while a fetch is parked waits for that
    fetch to end (a restarted ledger's first batch waited ~1 s at Kafka's default 500), so 100.
    Tansu answers only when the wait ends, so there it sets the latency (10-20 ms is its floor)."""
    reply_rollover_after: int
    """Tansu's fetch cost grows with the record batches in a partition, so a reply topic is
    replaced after this many requests; on Apache Kafka retention trims it (0: never)."""
    exact_end_offsets: bool
    """Apache Kafka's end offsets (ListOffsets latest) are exact, so lag is the log end offset
    minus the committed offset, as Kafka's tools say, and "read to the end" means to them. Tansu's
    can be too low (the last batch's base offset + 1): there lag comes from the fetch's high
    watermark and reading to the end stops after empty polls."""


BROKER_PROFILES: dict[BrokerFlavour, BrokerProfile] = {
    BrokerFlavour.KAFKA: BrokerProfile(
        idempotent_producer=True,
        fetch_max_wait_ms=100,
        reply_rollover_after=0,
        exact_end_offsets=True,
    ),
    BrokerFlavour.TANSU: BrokerProfile(
        idempotent_producer=False,
        fetch_max_wait_ms=20,
        reply_rollover_after=20_000,
        exact_end_offsets=False,
    ),
}


def split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


SecretList = Annotated[list[SecretStr], NoDecode, BeforeValidator(split_csv)]
"""Secrets given comma-separated in one variable (several side by side while they rotate)."""


class CommonSettings(BaseSettings):
    """What every service needs: where the broker and the database are, and how to log."""

    model_config = SettingsConfigDict(env_prefix="HYPELEDGER_", extra="ignore", frozen=True)

    environment: Environment = Environment.PRODUCTION
    database_url: str = "postgresql://postgres@127.0.0.1:5432/hypeledger"
    database_transaction_pooling: bool = False
    """True when ``database_url`` is a PgBouncer in transaction pooling mode: no session settings
    are sent at connection start (PgBouncer refuses them) and the statement cache is off unless
    ``database_statement_cache_size`` says otherwise (docs/deploy.md#pgbouncer)."""
    database_statement_cache_size: int | None = Field(default=None, ge=0, le=10_000)
    """asyncpg's prepared statements kept per connection; unset: 100, or 0 with transaction
    pooling (PgBouncer before 1.21, or without ``max_prepared_statements``, loses them)."""
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_flavour: BrokerFlavour = BrokerFlavour.KAFKA
    kafka_fetch_max_wait_ms: int | None = Field(default=None, ge=1, le=5000)
    """How long a fetch waits for data; unset: the broker profile's (100 on Kafka, 20 on Tansu)."""
    kafka_fetch_min_bytes: int = Field(default=1, ge=1, le=1024 * 1024)
    """The data a fetch waits for (up to the fetch wait) before the broker answers it."""
    kafka_linger_ms: int = Field(default=0, ge=0, le=1000)
    """How long a producer holds a record to batch it with the next ones."""
    kafka_session_timeout_ms: int = Field(default=10_000, ge=1000)
    kafka_heartbeat_interval_ms: int = Field(default=3_000, ge=100)
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None
    """CA bundle for the brokers' certificates (SSL, SASL_SSL); the system store when unset."""
    kafka_reply_rollover_after: int | None = Field(default=None, ge=0)
    """Requests after which a request-reply client moves to a fresh reply topic; 0 never.

    Unset: the broker profile's (never on Apache Kafka, 20,000 on Tansu).
    """
    log_level: str = "INFO"
    log_format: LogFormat = "auto"
    extra_currencies: dict[str, int] = Field(default_factory=dict)
    topic_prefix: str = ""
    """Prepended to every topic name (tests use a unique prefix per test; production leaves it empty)."""
    command_key_id: str = Field(default="", max_length=64, pattern=r"^[A-Za-z0-9._-]*$")
    """Id of the key this service signs its commands (or, the ledger, its replies) with."""
    command_key: SecretStr | None = None
    """This service's own signing key (``shared.command_auth``); required in production by every
    service that produces commands or replies."""
    command_verify_keys: dict[str, SecretStr] = Field(default_factory=dict)
    """Key id -> key of every signer this service accepts (JSON object): the ledger lists the
    producers' keys, each producer the ledger's. Old and new side by side while keys rotate."""
    metrics_token: SecretStr | None = None
    """When set, ``/metrics`` (and the ingress's ``/openapi.json``) answer only requests carrying
    ``Authorization: Bearer <token>``; unset, they are open (keep them off public routes)."""

    def topic(self, name: str) -> str:
        """The topic name this deployment uses for the contract topic ``name``."""
        return f"{self.topic_prefix}{name}"

    @model_validator(mode="after")
    def _command_keys(self) -> CommonSettings:
        if self.command_key is not None:
            if not self.command_key_id:
                raise ValueError("HYPELEDGER_COMMAND_KEY_ID must name HYPELEDGER_COMMAND_KEY")
            self.check_secret("command_key", self.command_key)
        for secret in self.command_verify_keys.values():
            self.check_secret("command_verify_keys", secret)
        return self

    def command_signer(self) -> Signer:
        """What this service signs with: its own key, or outside production the development one."""
        if self.command_key is not None:
            return Signer(self.command_key_id, self.command_key.get_secret_value().encode())
        if self.environment in (Environment.DEVELOPMENT, Environment.TEST):
            return Signer(DEVELOPMENT_KEY_ID, DEVELOPMENT_KEY)
        raise ValueError(
            f"HYPELEDGER_COMMAND_KEY_ID and HYPELEDGER_COMMAND_KEY must be set in {self.environment}"
        )

    def command_verifier(self) -> Verifier:
        """The signers this service accepts, or outside production the development key."""
        return self.verifier_of("command_verify_keys", self.command_verify_keys)

    def verifier_of(self, name: str, keys: Mapping[str, SecretStr]) -> Verifier:
        """A verifier of ``keys`` (the setting ``name``), or outside production the development
        key; in production, missing keys stop the service at start."""
        if keys:
            return Verifier({kid: key.get_secret_value().encode() for kid, key in keys.items()})
        if self.environment in (Environment.DEVELOPMENT, Environment.TEST):
            return Verifier({DEVELOPMENT_KEY_ID: DEVELOPMENT_KEY})
        raise ValueError(f"HYPELEDGER_{name.upper()} must be set in {self.environment}")

    @model_validator(mode="after")
    def _metrics_token(self) -> CommonSettings:
        if self.metrics_token is not None:
            self.check_secret("metrics_token", self.metrics_token)
        return self

    @model_validator(mode="after")
    def _kafka_credentials(self) -> CommonSettings:
        if self.kafka_security_protocol.startswith("SASL_") and not (
            self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError(
                "HYPELEDGER_KAFKA_SASL_USERNAME and HYPELEDGER_KAFKA_SASL_PASSWORD must be set "
                f"with HYPELEDGER_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol}"
            )
        return self

    @property
    def broker_profile(self) -> BrokerProfile:
        return BROKER_PROFILES[self.kafka_flavour]

    @property
    def reply_rollover_after(self) -> int:
        if self.kafka_reply_rollover_after is not None:
            return self.kafka_reply_rollover_after
        return self.broker_profile.reply_rollover_after

    @property
    def fetch_max_wait_ms(self) -> int:
        if self.kafka_fetch_max_wait_ms is not None:
            return self.kafka_fetch_max_wait_ms
        return self.broker_profile.fetch_max_wait_ms

    @property
    def kafka_idempotence(self) -> bool:
        return self.broker_profile.idempotent_producer

    def check_secrets(
        self, name: str, values: list[SecretStr], min_length: int = MIN_SECRET_LENGTH
    ) -> None:
        """Refuse an empty list, or a placeholder or short secret in it, outside development and
        tests (``check_secret``)."""
        if self.environment in (Environment.DEVELOPMENT, Environment.TEST):
            return
        if not values:
            raise ValueError(f"HYPELEDGER_{name.upper()} must be set")
        for value in values:
            self.check_secret(name, value, min_length)

    def check_secret(
        self, name: str, value: SecretStr | None, min_length: int = MIN_SECRET_LENGTH
    ) -> None:
        """Refuse a missing, placeholder or short secret outside development and tests."""
        if self.environment in (Environment.DEVELOPMENT, Environment.TEST):
            return
        if value is None or value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError(
                f"HYPELEDGER_{name.upper()} must be set to a real secret in {self.environment}"
            )
        if len(value.get_secret_value()) < min_length:
            raise ValueError(
                f"HYPELEDGER_{name.upper()} must be at least {min_length} characters "
                f"in {self.environment}"
            )


class HttpServerLimits(BaseModel):
    """The bounds of an HTTP server (each service's settings carry them with its own prefix)."""

    http_request_timeout_s: float = Field(default=10.0, gt=0, le=600)
    """A request must arrive whole (line, headers, body) within this many seconds of its first
    byte (and a new connection's first request within this of connecting): else 408 and close."""
    http_keep_alive_s: int = Field(default=5, ge=1, le=600)
    """An idle keep-alive connection is closed after this many seconds."""
    http_max_concurrency: int = Field(default=1000, ge=1)
    """Open connections or requests in progress beyond which new requests are answered 503."""


class LedgerTimeZone(BaseModel):
    """The operator's time zone, read by the ledger and the operator API (an unknown one is
    refused at start)."""

    ledger_time_zone: str = "UTC"
    """The operator's time zone (IANA name): where player limits' days, weeks and months begin."""

    @field_validator("ledger_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value
