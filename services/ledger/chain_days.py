"""Each day's chain heads: computed, recorded, published through the outbox, and re-checked.

A day's digest is ``chain.heads_root`` over the last link of every account whose chain moved that
day (links written in ``[start, end)`` of the day in the operator's time zone); its root is
``sha256(previous day's root || digest)``, so the roots form a chain of their own and a rewritten
past transaction changes its day's root and every root after it. Days are recorded in order in
``chain_days`` (append-only) together with the ``wallet.chain_heads`` event in the outbox, in one
transaction; a day already recorded is recomputed and compared instead (``matches``).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from services.ledger.chain import GENESIS, heads_root
from shared.contracts.chain import CHAIN_HEADS_KEY, ChainHeadsEvent
from shared.days import day_bounds

_EVENT_NAMESPACE = uuid.UUID("6f1c7a52-0d55-4f7e-9a51-3b0f4bfa0c11")

_DAY_HEADS = """
SELECT DISTINCT ON (user_id, currency) user_id, currency, hash
FROM transaction_chain
WHERE linked_at >= $1 AND linked_at < $2
ORDER BY user_id, currency, seq DESC
"""
_DAY_LINKS = "SELECT count(*) FROM transaction_chain WHERE linked_at >= $1 AND linked_at < $2"
_RECORDED = "SELECT day, previous_root, digest, root FROM chain_days WHERE day = $1"
_LAST_BEFORE = "SELECT day, root FROM chain_days WHERE day < $1 ORDER BY day DESC LIMIT 1"
_FIRST_LINK = "SELECT min(linked_at) FROM transaction_chain"
_RECORD = """
INSERT INTO chain_days (day, time_zone, accounts, links, digest, previous_root, root)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""
_OUTBOX = """
INSERT INTO outbox (event_id, topic, message_key, payload) VALUES ($1, $2, $3, $4)
ON CONFLICT (event_id) DO NOTHING
"""


@dataclass(frozen=True, slots=True)
class DayHeads:
    event: ChainHeadsEvent
    recorded: bool
    """True when this call recorded and published the day; False when it was already recorded."""
    matches: bool
    """The day as recomputed now equals the day as recorded (always true when just recorded)."""
    heads: list[tuple[str, str, str]]


def root_of(previous_root: str, digest: str) -> str:
    return hashlib.sha256((previous_root + digest).encode()).hexdigest()


async def _compute(
    conn: asyncpg.Connection, day: date, time_zone: str, previous_root: str
) -> tuple[ChainHeadsEvent, list[tuple[str, str, str]]]:
    start, end = day_bounds(day, time_zone)
    heads = [(r[0], r[1], r[2]) for r in await conn.fetch(_DAY_HEADS, start, end)]
    links = int(await conn.fetchval(_DAY_LINKS, start, end))
    digest = heads_root(heads)
    event = ChainHeadsEvent(
        event_id=str(uuid.uuid5(_EVENT_NAMESPACE, f"{time_zone}|{day.isoformat()}")),
        day=day,
        time_zone=time_zone,
        accounts=len(heads),
        links=links,
        digest=digest,
        previous_root=previous_root,
        root=root_of(previous_root, digest),
    )
    return event, heads


async def record_days(
    conn: asyncpg.Connection, *, through: date, time_zone: str, topic: str
) -> list[DayHeads]:
    """Record (and publish) every day not yet recorded up to ``through``, in order, from the day
    after the last recorded one (or the day of the first link); a day already recorded is only
    recomputed. Days still running are the caller's to avoid (``through`` should be past)."""
    async with conn.transaction():
        await conn.execute("LOCK TABLE chain_days IN SHARE ROW EXCLUSIVE MODE")
        last = await conn.fetchrow(_LAST_BEFORE, through + timedelta(days=1))
        if last is None:
            first: datetime | None = await conn.fetchval(_FIRST_LINK)
            if first is None:
                return []
            day, previous = first.astimezone(ZoneInfo(time_zone)).date(), GENESIS
        else:
            day, previous = last["day"] + timedelta(days=1), last["root"]
        done = []
        while day <= through:
            event, heads = await _compute(conn, day, time_zone, previous)
            await conn.execute(
                _RECORD,
                day,
                time_zone,
                event.accounts,
                event.links,
                event.digest,
                event.previous_root,
                event.root,
            )
            await conn.execute(
                _OUTBOX, uuid.UUID(event.event_id), topic, CHAIN_HEADS_KEY, event.model_dump_json()
            )
            done.append(DayHeads(event, True, True, heads))
            day, previous = day + timedelta(days=1), event.root
        return done


async def check_day(conn: asyncpg.Connection, day: date, time_zone: str) -> DayHeads | None:
    """Recompute a recorded day from the links as stored now; ``None`` when it is not recorded."""
    recorded = await conn.fetchrow(_RECORDED, day)
    if recorded is None:
        return None
    event, heads = await _compute(conn, day, time_zone, recorded["previous_root"])
    return DayHeads(event, False, event.root == recorded["root"], heads)
