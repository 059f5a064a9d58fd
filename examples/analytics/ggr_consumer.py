"""An analytics consumer of ``wallet.transactions.v1``, written as a data team would: copy it.

It reads the public events as CloudEvents (Kafka binding, binary mode: the attributes are the
``ce_*`` headers, the payload is the record value), skips event types it does not know, applies
each event once by its ``ce_id`` (delivery is at least once), and keeps gross gaming revenue per
provider, currency and hour of play in its own tables (``schema.sql``). Only FastStream, asyncpg
and the standard library: nothing of hypeledger's code is imported.

- Exactly once into the table: the event id is inserted with the totals in one transaction, and
  an id already there means the event was counted before; the offset is committed after the
  handler returns (``AckPolicy.NACK_ON_ERROR``: an error redelivers the event instead of skipping
  it, as FastStream's default would).
- Money stays exact: amounts are decimal strings, parsed to ``Decimal`` and stored as ``numeric``.
- GGR: stakes of real-money bets, less wins paid, less stakes refunded by rollbacks. Free-bet
  stakes (``mode`` ``free``) are not the player's money and are not counted as stakes.

Run it with ``python -m examples.analytics.ggr_consumer``; settings from ``ANALYTICS_*``
variables (``Settings.from_environment``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, Self

import asyncpg
from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

#: The CloudEvents type of the events this consumer understands (docs/events.md).
EVENT_TYPE: Final = "dev.hypeledger.wallet.transactions.v1"
SCHEMA_SQL: Final = Path(__file__).with_name("schema.sql")

_APPLY = """
INSERT INTO {schema}.applied_events (event_id)
VALUES ($1)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""

_ADD = """
INSERT INTO {schema}.ggr_hourly AS g (provider, currency, hour, stakes, payouts, refunds)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (provider, currency, hour) DO UPDATE
SET stakes = g.stakes + excluded.stakes,
    payouts = g.payouts + excluded.payouts,
    refunds = g.refunds + excluded.refunds
"""


@dataclass(frozen=True)
class Settings:
    database_url: str
    bootstrap_servers: str
    topic: str = "wallet.transactions.v1"
    group_id: str = "analytics-ggr"
    schema: str = "analytics"

    @classmethod
    def from_environment(cls) -> Settings:
        env = os.environ
        return cls(
            database_url=env["ANALYTICS_DATABASE_URL"],
            bootstrap_servers=env.get("ANALYTICS_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
            topic=env.get("ANALYTICS_TOPIC", cls.topic),
            group_id=env.get("ANALYTICS_GROUP_ID", cls.group_id),
            schema=env.get("ANALYTICS_SCHEMA", cls.schema),
        )


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one event adds to one hour's totals."""

    provider: str
    currency: str
    hour: datetime
    stakes: Decimal = Decimal(0)
    payouts: Decimal = Decimal(0)
    refunds: Decimal = Decimal(0)


def contribution(event: dict[str, Any]) -> Contribution | None:
    """The event's part of GGR, or None for events that move no game money (deposits, ...)."""
    amount = event.get("amount")
    kind = event.get("kind")
    if amount is None or kind not in {"bet", "win", "rollback"}:
        return None
    value = Decimal(amount)
    occurred = datetime.fromisoformat(event["occurred_at"]).astimezone(UTC)
    hour = occurred.replace(minute=0, second=0, microsecond=0)
    key = {"provider": event["provider"], "currency": event["currency"], "hour": hour}
    real_money = event.get("mode") != "free"
    if kind == "bet":
        return Contribution(**key, stakes=value) if real_money else None
    if kind == "win":
        return Contribution(**key, payouts=value)
    return Contribution(**key, refunds=value) if real_money else None


class GgrConsumer:
    """``async with GgrConsumer(settings):`` consumes until the block ends."""

    def __init__(self, settings: Settings, **subscriber_options: Any) -> None:
        self.settings = settings
        self.broker = KafkaBroker(settings.bootstrap_servers)
        self._pool: asyncpg.Pool | None = None
        self.counted = 0
        """Events counted by this instance."""
        self.duplicates = 0
        """Events this instance found counted before (redeliveries): skipped."""
        self._apply = _APPLY.format(schema=settings.schema)
        self._add = _ADD.format(schema=settings.schema)
        self._schema = SCHEMA_SQL.read_text().format(schema=settings.schema)
        self.broker.subscriber(
            settings.topic,
            group_id=settings.group_id,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            **subscriber_options,
        )(self.on_event)

    async def start(self) -> None:
        await self._open()
        await self.broker.start()

    async def stop(self) -> None:
        await self.broker.stop()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def on_event(self, message: KafkaMessage) -> None:
        headers = message.headers
        if headers.get("ce_type") != EVENT_TYPE:
            return  # another type on the topic: not ours to count (the policy allows new ones)
        event = json.loads(message.body, parse_float=Decimal)
        await self.apply(str(headers["ce_id"]), event)

    async def apply(self, event_id: str, event: dict[str, Any]) -> bool:
        """Count ``event`` once; False when its id was counted before."""
        pool = self._pool
        if pool is None:
            raise RuntimeError("the consumer is not started")
        part = contribution(event)
        async with pool.acquire() as conn, conn.transaction():
            if await conn.fetchval(self._apply, event_id) is None:
                self.duplicates += 1
                return False
            if part is not None:
                await conn.execute(
                    self._add,
                    part.provider,
                    part.currency,
                    part.hour,
                    part.stakes,
                    part.payouts,
                    part.refunds,
                )
        self.counted += 1
        return True

    def app(self) -> FastStream:
        """A FastStream application running this consumer (``main``)."""
        application = FastStream(self.broker)
        application.on_startup(self._open)
        application.after_shutdown(self.stop)
        return application

    async def _open(self) -> None:
        """Connect and create the tables (they are the consumer's own, created if missing)."""
        pool: asyncpg.Pool = await asyncpg.create_pool(
            self.settings.database_url, min_size=1, max_size=4
        )
        self._pool = pool
        await pool.execute(self._schema)


def main() -> None:
    import asyncio  # noqa: PLC0415

    asyncio.run(GgrConsumer(Settings.from_environment()).app().run())


if __name__ == "__main__":
    main()
