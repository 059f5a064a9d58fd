"""5,000 hostile requests against the real ledger: no 5xx, and no money moves anywhere."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from tests.e2e.test_ingress_ledger import kafka_env_of
from tests.integration.ingress.hostile import MAX_BODY, send_hostile_requests
from tests.integration.ingress.served import ServedIngress, ingress_settings
from tests.integration.ledger.ledger_harness import Ledger, ledger_harness

pytestmark = [
    pytest.mark.e2e,
    # aiokafka, in the served ingress's thread, uses `random` while Hypothesis draws examples.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

EXAMPLES = 5_000
LEDGER_STATE = """
SELECT (SELECT count(*) FROM postings) AS postings,
       (SELECT count(*) FROM bets) AS bets,
       (SELECT count(*) FROM rollback_tombstones) AS tombstones,
       (SELECT count(*) FROM accounts) AS accounts,
       (SELECT coalesce(sum(balance), 0) FROM accounts) AS balances
"""


@pytest.fixture
async def ledger(common_env: dict[str, Any], db_pool: asyncpg.Pool) -> AsyncIterator[Ledger]:
    async with ledger_harness(common_env, db_pool) as harness:
        yield harness


async def test_moves_no_money_for_thousands_of_hostile_requests(ledger: Ledger) -> None:
    await ledger.player("100.00")
    settings = ingress_settings(kafka_env_of(ledger.settings), max_body_bytes=MAX_BODY)
    before = dict(await ledger.pool.fetchrow(LEDGER_STATE))

    with ServedIngress(settings, ledger=False) as served:
        answered = await asyncio.to_thread(
            send_hostile_requests, served.base_url, settings, EXAMPLES
        )

    assert len(answered) >= EXAMPLES
    assert 404 in {status for _, status in answered}  # valid-looking ones reached the ledger
    assert dict(await ledger.pool.fetchrow(LEDGER_STATE)) == before
