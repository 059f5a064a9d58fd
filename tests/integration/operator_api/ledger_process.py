"""The real ledger consumer, run in-process for the length of a ``with`` block."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from services.ledger.app import LedgerService
from shared.infra.processes import free_port
from shared.settings import LedgerSettings

ASSIGNED_WITHIN_S = 30.0


@contextlib.asynccontextmanager
async def running_ledger(settings: LedgerSettings) -> AsyncIterator[LedgerService]:
    """Start the ledger (consumer and relay) and wait until it owns its partitions."""
    service = LedgerService(
        settings.model_copy(update={"metrics_port": free_port()}), run_relay=True
    )
    task = asyncio.create_task(service.run(), name="ledger-under-test")
    try:
        async with asyncio.timeout(ASSIGNED_WITHIN_S):
            while not (service.consumer is not None and service.consumer.ready):
                if task.done():
                    task.result()
                    raise RuntimeError("the ledger stopped before it was assigned")
                await asyncio.sleep(0.05)
        yield service
    finally:
        service.stop_event.set()
        await task
