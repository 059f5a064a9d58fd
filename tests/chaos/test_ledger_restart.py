"""A ledger killed with SIGKILL serves again within seconds of its restart: ready and applying.

The restarted process has the killed one's group instance id (static membership, the pod's name),
so the group coordinator hands it the same partitions at once instead of waiting a session timeout
for the dead member and rebalancing every member.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from ledger_processes import (
    Replies,
    build_load,
    chaos_settings,
    check_end_state,
    create_topics,
    logged,
    start_ledger,
    wait_all_applied,
)

pytestmark = pytest.mark.chaos

#: The bound asked (issue 20). Without static membership the same restart took 10.1 s (8.4 s
#: waiting for the dead member's session); most of what is left is the process's own start
#: (docs/reliability.md, "Restart time"), which a machine busy with other work slows down.
BACK_WITHIN_S = 2.0
#: Kills and restarts measured; the median must be within the bound (one start can be slowed by
#: anything else the machine does at that moment, as on a node; three cannot all be).
RESTARTS = 3


async def test_a_killed_ledger_is_ready_and_applying_within_two_seconds_of_its_restart(
    common_env: dict[str, Any], db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    settings = chaos_settings(
        {
            **common_env,
            # What ships: a dead member is noticed after 10 s (the restart must not wait for it).
            "kafka_session_timeout_ms": 10_000,
            "kafka_heartbeat_interval_ms": 3_000,
        }
    ).model_copy(update={"instance_id": "ledger-0"})
    await create_topics(settings)
    loads = [build_load(players=8, bets=3) for _ in range(RESTARTS + 1)]
    ledger = start_ledger(settings, tmp_path)
    measured: list[tuple[float, float, dict[str, Any]]] = []
    try:
        await ledger.ready()
        async with Replies(settings) as replies:
            await replies.wait_for(await replies.publish(loads[0].commands))
            for load in loads[1:]:
                ledger.process.send_signal(signal.SIGKILL)
                ledger.process.wait(timeout=10)
                started = time.monotonic()
                ledger = start_ledger(settings, tmp_path)
                await ledger.ready(within_s=60)
                ready_s = time.monotonic() - started
                await replies.wait_for(await replies.publish(load.commands), within_s=60)
                applying_s = time.monotonic() - started
                measured.append(
                    (applying_s, ready_s, logged(ledger.log, "ledger.started", "ledger.ready"))
                )
        await wait_all_applied(db_pool, settings, sum(len(load.commands) for load in loads))
        for load in loads:
            await check_end_state(db_pool, load)
    finally:
        ledger.kill()

    for applying_s, ready_s, start in measured:
        logging.getLogger(__name__).warning(
            "restarted ledger: ready after %.2f s, applying after %.2f s; %s",
            ready_s,
            applying_s,
            start,
        )
    applying_s, ready_s, start = sorted(measured, key=lambda m: m[0])[len(measured) // 2]
    assert applying_s <= BACK_WITHIN_S, (
        f"the median restarted ledger applied {applying_s:.2f} s after its start (ready after"
        f" {ready_s:.2f} s), more than {BACK_WITHIN_S} s; its start: {start}; all:"
        f" {[round(m[0], 2) for m in measured]}; load average {os.getloadavg()} on"
        f" {os.cpu_count()} CPUs"
    )
