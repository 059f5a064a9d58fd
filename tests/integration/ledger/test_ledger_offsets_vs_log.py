"""Stored offsets that no longer fit the log stop their partition loudly, and only an operator's
audited command (after a reconciliation) lets it go on: never an automatic skip.

* ahead of the log's end: what a recreated topic, a rebuilt cluster or a database restored next to
  another cluster looks like (the ledger would otherwise wait forever, reporting itself ready);
* before the log's start: commands deleted by retention before the ledger applied them (money
  that would otherwise be lost without a word).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import asyncpg
import httpx
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import RecordsToDelete
from ledger_harness import (
    ASSIGNED_WITHIN_S,
    create_ledger_topics,
    eventually,
    ledger_settings,
    operator,
)

from services.ledger import app as app_module
from services.ledger import consumer as consumer_module
from services.ledger.app import LedgerService
from services.ledger.offsets import ResolutionRefused, set_offset, show
from services.ledger.settings import LedgerSettings
from shared.command_auth import command_headers
from shared.contracts.commands import OperatorKind
from shared.contracts.topics import COMMANDS
from shared.kafka import admin as kafka_admin
from shared.kafka import producer as kafka_producer


@contextlib.asynccontextmanager
async def started_ledger(settings: LedgerSettings) -> AsyncIterator[LedgerService]:
    """A ledger that has had its partitions assigned (ready or not)."""
    service = LedgerService(settings, run_relay=False)
    task = asyncio.create_task(service.run(), name="ledger-offsets-under-test")
    try:
        async with asyncio.timeout(ASSIGNED_WITHIN_S):
            while service.consumer is None or not service.consumer.assigned_once.is_set():
                if task.done():
                    task.result()
                await asyncio.sleep(0.05)
        yield service
    finally:
        service.stop_event.set()
        await task


async def publish_accounts(settings: LedgerSettings, users: list[str]) -> None:
    """One signed create-account command per user, on partition 0, with no reply expected."""
    producer = kafka_producer(settings)
    signer = settings.command_signer()
    await producer.start()
    try:
        for user in users:
            command = operator(OperatorKind.CREATE_ACCOUNT, user, f"create-{user}")
            key, value = user.encode(), command.model_dump_json().encode()
            headers = command_headers(
                signer, key=key, correlation_id=b"", reply_to=b"", value=value
            )
            await producer.send_and_wait(
                settings.topic(COMMANDS), value, key=key, partition=0, headers=headers
            )
    finally:
        await producer.stop()


async def delete_before(settings: LedgerSettings, offset: int) -> None:
    """Delete partition 0's records before ``offset``, as retention does: the log starts there."""
    admin = kafka_admin(settings)
    await admin.start()
    try:
        await admin.delete_records(
            {TopicPartition(settings.topic(COMMANDS), 0): RecordsToDelete(offset)}
        )
    finally:
        await admin.close()


async def store_offset(pool: asyncpg.Pool, settings: LedgerSettings, next_offset: int) -> None:
    await pool.execute(
        "INSERT INTO consumed_offsets (group_id, topic, partition, next_offset) VALUES ($1, $2, 0, $3)",
        settings.consumer_group,
        settings.topic(COMMANDS),
        next_offset,
    )


async def probe(settings: LedgerSettings) -> tuple[int, str]:
    """``/readyz``'s status and ``/metrics``, the metrics read first: a state the metrics show
    (a partition behind its log's start stays so until an operator resolves it) is then in
    force when readiness is read.
    Read the other way round, readiness could come from just before the state began (a partition
    sought back after its records were deleted is held only once the check finds the mismatch)."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.metrics_port}") as client:
        metrics = await client.get("/metrics", timeout=5)
        ready = await client.get("/readyz", timeout=5)
    return ready.status_code, metrics.text


async def accounts_of(pool: asyncpg.Pool, users: list[str]) -> set[str]:
    rows = await pool.fetch("SELECT user_id FROM accounts WHERE user_id = ANY($1::text[])", users)
    return {row["user_id"] for row in rows}


async def mismatch_seen(settings: LedgerSettings, case: str) -> tuple[int, str]:
    """The probes once the ledger has found ``case`` (it checks right after its assignment)."""

    async def found() -> tuple[int, str] | None:
        status, metrics = await probe(settings)
        wanted = f'hypeledger_ledger_partitions_offset_mismatch{{case="{case}"}} 1.0'
        return (status, metrics) if wanted in metrics else None

    answer: tuple[int, str] = await eventually(found, attempts=400)
    return answer


@contextlib.asynccontextmanager
async def serialization_failures(pool: asyncpg.Pool, prefix: str, user: str) -> AsyncIterator[None]:
    """Every insert of ``user``'s account fails as a serialization failure (a transient fault,
    retried with backoff) for the block."""
    await pool.execute(
        f"""
        CREATE FUNCTION "{prefix}serialize"() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.user_id = '{user}' THEN
                RAISE EXCEPTION 'try again' USING ERRCODE = 'serialization_failure';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER "{prefix}serialize" BEFORE INSERT ON accounts
        FOR EACH ROW EXECUTE FUNCTION "{prefix}serialize"();
        """
    )
    try:
        yield
    finally:
        await pool.execute(
            f'DROP TRIGGER "{prefix}serialize" ON accounts; DROP FUNCTION "{prefix}serialize"();'
        )


async def shows(settings: LedgerSettings, text: str) -> bool:
    """The ledger's metrics hold ``text``."""
    _, metrics = await probe(settings)
    return text in metrics


#: Partition 0 has been retried after a serialization failure.
RETRIED = 'partition_retries_total{partition="0",reason="40001"}'
#: A partition is stopped.
STOPPED = "hypeledger_ledger_partitions_stopped 1.0"


def offsets_settings(common_env: dict[str, Any], prefix: str) -> LedgerSettings:
    return ledger_settings(common_env, topic_prefix=prefix)


@pytest.fixture(autouse=True)
def frequent_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Check the offsets against the log every half second rather than every 10 s."""
    monkeypatch.setattr(consumer_module, "LOG_CHECK_INTERVAL_S", 0.5)


async def test_stops_a_partition_whose_stored_offset_is_past_the_log_end_until_an_operator_resolves_it(
    common_env: dict[str, Any], db_pool: asyncpg.Pool, topic_prefix: str
) -> None:
    settings = offsets_settings(common_env, topic_prefix)
    await create_ledger_topics(settings, partitions=1)
    await store_offset(db_pool, settings, 100)
    users = [f"ahead-{topic_prefix}{n}" for n in range(3)]

    async with started_ledger(settings):
        await publish_accounts(settings, users)
        status, metrics = await mismatch_seen(settings, "ahead_of_log_end")
        await asyncio.sleep(1.5)  # three checks: nothing may be applied meanwhile
        applied_before = await accounts_of(db_pool, users)
        listed = await show(settings)
        resolution = await set_offset(
            settings, partition=0, next_offset=0, operator="test", reason="topic recreated"
        )

        async def all_applied() -> bool:
            return await accounts_of(db_pool, users) == set(users)

        await eventually(all_applied, attempts=400)
        status_after, _ = await probe(settings)

    assert status == 503
    assert 'hypeledger_ledger_partitions_offset_mismatch{case="ahead_of_log_end"} 1.0' in metrics
    assert applied_before == set()
    assert [(row.partition, row.stored, row.case) for row in listed] == [
        (0, 100, "ahead_of_log_end")
    ]
    record = await db_pool.fetchrow(
        "SELECT * FROM offset_resolutions WHERE resolution_id = $1", resolution
    )
    assert (record["stored_before"], record["next_offset"], record["reason"]) == (
        100,
        0,
        "topic recreated",
    )
    assert status_after == 200


@pytest.mark.parametrize("stored", [1, None], ids=["stored-1", "nothing-stored"])
async def test_stops_a_partition_whose_stored_offset_is_before_the_log_start_until_an_operator_resolves_it(
    common_env: dict[str, Any], db_pool: asyncpg.Pool, topic_prefix: str, stored: int | None
) -> None:
    """Nothing stored means from offset 0: a log that starts later lost commands too."""
    settings = offsets_settings(common_env, topic_prefix)
    await create_ledger_topics(settings, partitions=1)
    users = [f"behind-{topic_prefix}{n}" for n in range(3)]
    await publish_accounts(settings, users)
    await delete_before(settings, 2)
    if stored is not None:
        await store_offset(db_pool, settings, stored)

    async with started_ledger(settings):
        status, metrics = await mismatch_seen(settings, "behind_log_start")
        await asyncio.sleep(1.5)
        applied_before = await accounts_of(db_pool, users)
        with pytest.raises(ResolutionRefused):
            await set_offset(settings, partition=0, next_offset=1, operator="test", reason="no")
        await set_offset(
            settings, partition=0, next_offset=2, operator="test", reason="offset 1 reconciled"
        )

        async def last_applied() -> bool:
            return await accounts_of(db_pool, users) == {users[2]}

        await eventually(last_applied, attempts=400)
        status_after, _ = await probe(settings)

    assert status == 503
    assert 'hypeledger_ledger_partitions_offset_mismatch{case="behind_log_start"} 1.0' in metrics
    assert applied_before == set()
    assert status_after == 200


async def test_stops_a_partition_retrying_while_retention_deletes_what_it_has_not_applied(
    common_env: dict[str, Any], db_pool: asyncpg.Pool, topic_prefix: str
) -> None:
    settings = offsets_settings(common_env, topic_prefix)
    await create_ledger_topics(settings, partitions=1)
    users = [f"{kind}-{topic_prefix}" for kind in ("applied", "stuck", "deleted")]
    async with serialization_failures(db_pool, topic_prefix, users[1]), started_ledger(settings):
        await publish_accounts(settings, users[:1])

        async def first_applied() -> bool:
            return await accounts_of(db_pool, users) == {users[0]}

        await eventually(first_applied, attempts=400)
        await publish_accounts(settings, users[1:])

        await eventually(lambda: shows(settings, RETRIED), attempts=400)
        await delete_before(settings, 3)

        status, _ = await mismatch_seen(settings, "behind_log_start")
        await set_offset(
            settings, partition=0, next_offset=3, operator="test", reason="1-2 reconciled"
        )

        async def ready_again() -> bool:
            return (await probe(settings))[0] == 200

        await eventually(ready_again, attempts=400)

    assert status == 503
    assert await accounts_of(db_pool, users) == {users[0]}


async def test_a_partition_with_nothing_stored_never_skips_commands_retention_deleted_meanwhile(
    common_env: dict[str, Any],
    db_pool: asyncpg.Pool,
    topic_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its first batch fails for a while; retention deletes the first two commands meanwhile, and
    the fetch from offset 0 is answered from the log's new start. The first attempt stored the
    partition's first offset before its write failed (``UnitOfWork.apply``), so the batch from
    offset 2 is refused as a gap and the partition stops, rather than applying the third command
    without the first two. The periodic log check, which would stop it too, is kept out of the
    way."""
    monkeypatch.setattr(consumer_module, "LOG_CHECK_INTERVAL_S", 3600.0)
    settings = offsets_settings(common_env, topic_prefix)
    await create_ledger_topics(settings, partitions=1)
    users = [f"{kind}-{topic_prefix}" for kind in ("stuck", "deleted", "kept")]
    async with serialization_failures(db_pool, topic_prefix, users[0]), started_ledger(settings):
        await publish_accounts(settings, users)

        await eventually(lambda: shows(settings, RETRIED), attempts=400)
        await delete_before(settings, 2)

        await eventually(lambda: shows(settings, STOPPED), attempts=600)
        applied = await accounts_of(db_pool, users)

    assert applied == set()


class RetentionBeforeTheFirstFetch(consumer_module.LedgerConsumer):
    """Right after its first comparison with the log (an empty log: it fits), its partition 0
    gets three commands and retention deletes the first two, before the partition is fetched
    (paused meanwhile): its first fetch from offset 0 is answered from the log's new start."""

    users: ClassVar[list[str]] = []
    done = False

    async def _check_log(self, consumer: Any, tps: Any) -> bool:
        checked = await super()._check_log(consumer, tps)
        if not self.done and self.ready:
            self.done = True
            tp = TopicPartition(self._settings.topic(COMMANDS), 0)
            consumer.pause(tp)
            await publish_accounts(self._settings, self.users)
            await delete_before(self._settings, 2)
            consumer.resume(tp)
        return checked


async def test_a_partition_with_nothing_stored_starts_at_offset_0_even_when_its_first_fetch_is_answered_later(
    common_env: dict[str, Any],
    db_pool: asyncpg.Pool,
    topic_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(consumer_module, "LOG_CHECK_INTERVAL_S", 3600.0)
    monkeypatch.setattr(app_module, "LedgerConsumer", RetentionBeforeTheFirstFetch)
    users = [f"{kind}-{topic_prefix}" for kind in ("deleted", "also-deleted", "kept")]
    monkeypatch.setattr(RetentionBeforeTheFirstFetch, "users", users)
    settings = offsets_settings(common_env, topic_prefix)
    await create_ledger_topics(settings, partitions=1)

    async def settled() -> bool:
        return await shows(settings, STOPPED) or bool(await accounts_of(db_pool, users))

    async with started_ledger(settings):
        await eventually(settled, attempts=600)
        applied = await accounts_of(db_pool, users)
        stopped_at_the_gap = await shows(settings, STOPPED)

    # Before: the fetch reset to the log's start (offset 2) was applied as the partition's
    # first batch, and the third command became money without the first two.
    assert applied == set()
    assert stopped_at_the_gap
