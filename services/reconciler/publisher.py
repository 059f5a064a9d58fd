"""Publishes findings that are new or changed to ``wallet.reconciliation.v1``, keyed by session.

The store is the outbox: a finding is published until ``published_version`` reaches its
``version``; a crash between sending and marking sends it again with the same ``event_id``.
Each is a CloudEvent in the Kafka binding's binary mode (``shared/contracts/cloudevents.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from services.reconciler.metrics import ReconcilerMetrics
from services.reconciler.store import ReconcilerStore
from shared.contracts.cloudevents import FINDING_EVENTS, EventSource
from shared.contracts.reconciliation import ReconciliationFinding
from shared.contracts.topics import RECONCILIATION
from shared.settings import CommonSettings

BATCH = 500


def finding_event(row: dict[str, Any]) -> ReconciliationFinding:
    return ReconciliationFinding(
        event_id=f"{row['finding_id']}:{row['version']}",
        finding_id=row["finding_id"],
        version=row["version"],
        dedupe_key=row["dedupe_key"],
        finding_class=row["finding_class"],
        status=row["status"],
        provider=row["provider"],
        session_id=row["session_id"],
        kind=row["kind"],
        provider_tx_id=row["provider_tx_id"],
        round_id=row["round_id"],
        user_id=row["user_id"],
        currency=row["currency"],
        detail=row["detail"],
        provider_row=row["provider_row"],
        ledger_row=row["ledger_row"],
        run_id=row["run_id"],
        first_seen_at=row["first_seen_at"],
        last_seen_at=row["last_seen_at"],
        times_seen=row["times_seen"],
        status_changed_by=row["status_changed_by"],
        status_changed_at=row["status_changed_at"],
        status_reason=row["status_reason"],
    )


def recorded_at(event: ReconciliationFinding) -> datetime:
    """When this version of the finding was recorded: its status change, else its last sighting."""
    changed = event.status_changed_at
    return event.last_seen_at if changed is None else max(changed, event.last_seen_at)


class FindingPublisher:
    def __init__(
        self,
        settings: CommonSettings,
        store: ReconcilerStore,
        producer: AIOKafkaProducer,
        metrics: ReconcilerMetrics,
    ) -> None:
        self._topic = settings.topic(RECONCILIATION)
        self._events: EventSource = FINDING_EVENTS
        self._store = store
        self._producer = producer
        self._metrics = metrics

    async def flush(self) -> int:
        """Publish every unpublished finding version; returns how many were sent."""
        sent = 0
        while rows := await self._store.unpublished(BATCH):
            futures = []
            for row in rows:
                event = finding_event(row)
                futures.append(
                    await self._producer.send(
                        self._topic,
                        event.model_dump_json().encode(),
                        key=event.session_id.encode(),
                        headers=self._events.headers(
                            event_id=event.event_id,
                            time=recorded_at(event),
                            subject=event.session_id,
                        ),
                    )
                )
            for future in futures:
                await future
            await self._store.mark_published([(r["finding_id"], r["version"]) for r in rows])
            self._metrics.published.inc(len(rows))
            sent += len(rows)
        return sent
