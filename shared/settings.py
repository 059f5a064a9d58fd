"""Typed settings, read from the environment with the ``HYPELEDGER_`` prefix.

Each service builds its settings object once in its composition root and passes it down; nothing
here is instantiated at import time. Secrets have no defaults, and placeholder secrets are refused
outside development.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.command_auth import DEVELOPMENT_KEY, DEVELOPMENT_KEY_ID, Signer, Verifier
from shared.contracts.commands import WinWithoutRound
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
    ledger_time_zone: str = "UTC"
    """The operator's time zone (IANA name): where player limits' days, weeks and months begin."""
    ledger_limit_cooling_off: timedelta = Field(default=timedelta(hours=24), ge=timedelta(0))
    """How long a raised or removed player limit waits before it takes effect."""

    @field_validator("ledger_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

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


class IngressSettings(CommonSettings, HttpServerLimits):
    host: str = "127.0.0.1"
    port: int = 8080
    public_base_url: str = "http://127.0.0.1:8080"
    hypetech_api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    ledger_timeout_s: float = Field(default=3.0, gt=0)
    """How long a webhook waits for the ledger's reply before the 503 ``ledger-unavailable``
    (with ``Retry-After``). Below Hypetech's own wait (undocumented; 5 s observed, which the
    simulator keeps), so the 503 reaches Hypetech while it still listens."""
    max_body_bytes: int = Field(default=64 * 1024, gt=0)
    retry_after_s: int = Field(default=1, ge=0)
    path_bet: str = "/webhooks/hypetech/bet"
    path_win: str = "/webhooks/hypetech/win"
    path_rollback: str = "/webhooks/hypetech/rollback"
    path_balance: str = "/webhooks/hypetech/balance"
    instance_id: str = ""

    _split_keys = field_validator("hypetech_api_keys", mode="before")(split_csv)

    @model_validator(mode="after")
    def _secrets(self) -> IngressSettings:
        if self.environment not in (Environment.DEVELOPMENT, Environment.TEST):
            if not self.hypetech_api_keys:
                raise ValueError("HYPELEDGER_HYPETECH_API_KEYS must be set")
            for key in self.hypetech_api_keys:
                self.check_secret("hypetech_api_keys", key, MIN_PROVIDER_SECRET_LENGTH)
        return self


#: Records of money (decisions accepted and refused, tombstones, transactions, postings, limit
#: changes) are kept five years by default, as regulators ask (Brazil's betting rules among
#: them): five calendar years hold at most two leap days.
RECORDS_RETENTION_DAYS = 5 * 365 + 2
#: The floor in development: idempotency keys and tombstones outlive any provider's retries.
KEYS_MIN_RETENTION_DAYS = 180


def retention_floor(environment: Environment) -> int:
    """The shortest retention allowed: five years, except in development."""
    if environment is Environment.DEVELOPMENT:
        return KEYS_MIN_RETENTION_DAYS
    return RECORDS_RETENTION_DAYS


class LedgerSettings(CommonSettings):
    consumer_group: str = "hypeledger-ledger"
    retention_days: int = Field(default=RECORDS_RETENTION_DAYS, ge=KEYS_MIN_RETENTION_DAYS)
    """Decisions (idempotency keys with their responses) and rollback tombstones older than this
    are deleted by ``hypeledger retention``; transactions and postings are never deleted. At
    least five years outside development (``retention_floor``)."""
    retention_outbox_days: int = Field(default=30, ge=1)
    """Published outbox rows older than this are deleted (the events are on Kafka; the outbox is
    their way there, not a record)."""
    command_key_scopes: dict[
        str, list[Annotated[str, Field(pattern=r"^(webhook|operator)(:[a-z_]{1,32})?$")]]
    ] = Field(default_factory=dict)
    """Key id -> what that key may sign (JSON object): ``webhook``, ``operator`` or
    ``operator:<kind>`` (``shared.command_auth``). A key not named here may sign any command."""
    max_batch: int = Field(default=500, ge=1, le=10_000)
    session_check: bool = True
    insufficient_funds_status: int = Field(default=403, ge=400, le=499)
    rollback_unknown_status: int = Field(default=200)
    win_without_round: WinWithoutRound = "reject"
    relay_interval_ms: int = Field(default=50, ge=1)
    lag_interval_s: float = Field(default=2.0, gt=0)
    """How often the consumer lag metric is measured against the log end (Apache Kafka)."""
    kafka_fetch_max_bytes: int = Field(default=1024 * 1024, ge=64 * 1024)
    """The most record bytes one fetch of the command topic brings (and the ledger holds before
    deciding); a batch larger than this still comes whole, so nothing is ever stuck."""
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9101
    relay_metrics_port: int = 9103
    instance_id: str = ""
    """This member's static identity in the consumer group (Kafka's ``group.instance.id``; the
    pod's name on Kubernetes): a restarted process with the same one takes its partitions back at
    once, without a rebalance. Empty: a dynamic member."""

    @model_validator(mode="after")
    def _retention(self) -> LedgerSettings:
        floor = retention_floor(self.environment)
        if self.retention_days < floor:
            raise ValueError(
                f"HYPELEDGER_RETENTION_DAYS must be at least {floor} in {self.environment}"
                " (records of money are kept five years)"
            )
        return self


class HypetechClientSettings(CommonSettings):
    hypetech_base_url: str = "https://player.api.hypetech.games"
    hypetech_api_token: SecretStr | None = None
    hypetech_timeout_s: float = Field(default=5.0, gt=0)
    hypetech_max_retries: int = Field(default=3, ge=0, le=10)

    @model_validator(mode="after")
    def _secrets(self) -> HypetechClientSettings:
        self.check_secret("hypetech_api_token", self.hypetech_api_token, MIN_PROVIDER_SECRET_LENGTH)
        return self


class OperatorApiSettings(HypetechClientSettings, HttpServerLimits):
    host: str = "127.0.0.1"
    port: int = 8081
    operator_tokens: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    instance_id: str = ""
    """Names this instance's reply topic (the pod name on Kubernetes); random when empty."""
    ledger_timeout_s: float = Field(default=5.0, gt=0)

    _split_tokens = field_validator("operator_tokens", mode="before")(split_csv)

    @model_validator(mode="after")
    def _tokens(self) -> OperatorApiSettings:
        if self.environment not in (Environment.DEVELOPMENT, Environment.TEST):
            if not self.operator_tokens:
                raise ValueError("HYPELEDGER_OPERATOR_TOKENS must be set")
            for token in self.operator_tokens:
                self.check_secret("operator_tokens", token)
        return self


class ReconcilerSettings(HypetechClientSettings):
    interval_s: float = Field(default=300.0, gt=0)
    grace_period_s: float = Field(default=600.0, ge=0)
    concurrency: int = Field(default=8, ge=1, le=256)
    requests_per_second: float = Field(default=50.0, gt=0)
    page_size: int = Field(default=100, ge=1, le=1000)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9102
    chunk_size: int = Field(default=64, ge=1, le=10_000)
    """Sessions committed together (findings and progress in one transaction)."""
    settle_lost_on_finished_rounds: bool = True
    """Settle the open bets of rounds Hypetech reports FINISHED, that nothing won there, as lost
    (a ledger command, reason ``round-finished``, no money moves). Off: they are findings."""
    ledger_timeout_s: float = Field(default=5.0, gt=0)
    instance_id: str = "reconciler"

    @model_validator(mode="after")
    def _session_pooling(self) -> ReconcilerSettings:
        if self.database_transaction_pooling:
            raise ValueError(
                "the reconciler holds a session-level advisory lock for a whole run: connect it "
                "to Postgres directly or through a session-mode pool (docs/deploy.md#pgbouncer)"
            )
        return self
