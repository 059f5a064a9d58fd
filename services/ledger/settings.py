"""The ledger's settings (and its relay's): ``HYPELEDGER_`` environment variables
(``shared.settings`` has the common ones)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import Field, model_validator

from shared.contracts.commands import WinWithoutRound
from shared.settings import CommonSettings, Environment, LedgerTimeZone

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


class LedgerSettings(CommonSettings, LedgerTimeZone):
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
    kafka_commit_interval_s: float = Field(default=1.0, ge=0, le=60)
    """The least time between two commits of the applied offsets to Kafka (0: after every
    batch). Postgres holds the offsets the ledger resumes from; Kafka's copy is for the tools
    that measure a group's lag, and one commit a second spares the broker a request per batch."""
    kafka_fetch_max_bytes: int = Field(default=1024 * 1024, ge=64 * 1024)
    """The most record bytes one fetch of the command topic brings (and the ledger holds before
    deciding); a batch larger than this still comes whole, so nothing is ever stuck."""
    ledger_limit_cooling_off: timedelta = Field(default=timedelta(hours=24), ge=timedelta(0))
    """How long a raised or removed player limit waits before it takes effect."""
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
