"""The ledger's SQL: load what a batch can touch into a ``BatchState``, write its decisions back.

Two statements per batch, each its own transaction: ``load`` reads every row the batch's
commands can read and the partitions' stored offsets (no lock; a batch that redelivers keys also
reads their stored answers from their months of ``decisions``); ``write`` writes every row of the
batch and moves the offsets, all of it only if those offsets are still the ones loaded. Arrays go
in through ``unnest``. ``services.ledger.unit_of_work`` drives them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, assert_never

import asyncpg

from services.ledger.balances import with_balances_after
from services.ledger.decide import Command, key_of
from services.ledger.errors import Contended, MissingDecision
from services.ledger.model import (
    PLAYER,
    Account,
    AccountStatus,
    Bet,
    BetChange,
    BetState,
    Decision,
    Grant,
    GrantChange,
    Key,
    Movement,
    OpenAccount,
    OutboxEvent,
    PlaceBet,
    ProtectionRecord,
    RoundLock,
    Session,
    SetAccountStatus,
    StoredDecision,
    Tombstone,
)
from services.ledger.protection import Exclusion, Limit, Totals
from services.ledger.state import BatchState
from shared.contracts.commands import Mode, OperatorCommand, OperatorKind, WebhookKind
from shared.contracts.protection import ExclusionKind, LimitKind, LimitPeriod

# -- offsets ----------------------------------------------------------------------------------

_STORED_OFFSETS = """
SELECT partition, next_offset
FROM consumed_offsets
WHERE group_id = $1 AND topic = $2 AND partition = ANY($3::int[])
"""


async def stored_offsets(
    conn: asyncpg.Connection, group: str, topic: str, partitions: Sequence[int]
) -> dict[int, int]:
    rows = await conn.fetch(_STORED_OFFSETS, group, topic, list(partitions))
    return {row["partition"]: row["next_offset"] for row in rows}


_ENSURE_OFFSETS = """
INSERT INTO consumed_offsets (group_id, topic, partition, next_offset)
SELECT $1, $2, k.partition, k.next_offset
FROM unnest($3::int[], $4::bigint[]) AS k (partition, next_offset)
ON CONFLICT (group_id, topic, partition) DO NOTHING
"""


async def ensure_offsets(
    conn: asyncpg.Connection, group: str, topic: str, firsts: dict[int, int]
) -> None:
    """Store ``firsts`` as the next offsets of the partitions that have none stored yet."""
    partitions = sorted(firsts)
    await conn.execute(_ENSURE_OFFSETS, group, topic, partitions, [firsts[p] for p in partitions])


# -- loading ----------------------------------------------------------------------------------

_ROUND_LOCKS = """
SELECT l.provider, l.user_id, l.round_id
FROM round_locks l
JOIN unnest($1::text[], $2::text[]) AS k (user_id, round_id)
  ON l.user_id = k.user_id AND l.round_id = k.round_id
"""


@dataclass(slots=True)
class _Wanted:
    """What the batch's commands can read, so only that is loaded."""

    keys: set[Key] = field(default_factory=set)
    accounts: set[tuple[str, str]] = field(default_factory=set)
    bet_ids: set[tuple[str, str]] = field(default_factory=set)
    """Bets named by a win, lose or rollback."""
    tombstone_ids: set[tuple[str, str]] = field(default_factory=set)
    """Bet ids that a bet places or a rollback targets (either may meet a tombstone)."""
    rounds: set[tuple[str, str]] = field(default_factory=set)
    """(user_id, round_id) whose bets an unlinked win or lose, or a settle_lost, reads."""
    lock_rounds: set[tuple[str, str]] = field(default_factory=set)
    """(user_id, round_id) whose round lock a decision may read."""
    bet_rounds: set[tuple[str, str]] = field(default_factory=set)
    """Rounds of the bets placed in this batch (a rollback in the batch may target them)."""
    rollbacks: bool = False
    tokens: set[str] = field(default_factory=set)
    grant_owners: set[tuple[str, str]] = field(default_factory=set)


def _wanted(commands: Iterable[Command]) -> _Wanted:
    wanted = _Wanted()
    for command in commands:
        key = key_of(command)
        if key is not None:
            wanted.keys.add(key)
        owner = (command.user_id, command.currency)
        wanted.accounts.add(owner)
        if isinstance(command, OperatorCommand):
            if command.kind is OperatorKind.SETTLE_LOST and command.round_id is not None:
                wanted.rounds.add((command.user_id, command.round_id))
            continue
        provider = command.provider
        round_key = None if command.round_id is None else (command.user_id, command.round_id)
        kind = command.kind
        if kind is WebhookKind.BET and command.provider_tx_id is not None:
            wanted.tombstone_ids.add((provider, command.provider_tx_id))
            if round_key is not None:
                wanted.bet_rounds.add(round_key)
            if command.session_token is not None:
                wanted.tokens.add(command.session_token)
            if command.mode is Mode.FREE:
                wanted.grant_owners.add(owner)
        elif kind is WebhookKind.WIN or kind is WebhookKind.LOSE:
            if command.linked_tx_id is not None:
                wanted.bet_ids.add((provider, command.linked_tx_id))
            elif round_key is not None:
                wanted.rounds.add(round_key)
                if kind is WebhookKind.WIN:
                    wanted.lock_rounds.add(round_key)
        elif kind is WebhookKind.ROLLBACK:
            wanted.rollbacks = True
            target = command.rollback_target
            if target is not None:
                wanted.bet_ids.add((provider, target))
                wanted.tombstone_ids.add((provider, target))
            wanted.grant_owners.add(owner)
    return wanted


def _columns(rows: Iterable[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows to the per-column arrays ``unnest`` takes."""
    columns = [list(column) for column in zip(*rows, strict=True)]
    return columns or [[] for _ in range(width)]


def _probe(
    tag: str,
    laid_out: str,
    table: str,
    keys: str,
    *,
    unique: bool,
    probed: str = "*",
    where: str = "",
) -> str:
    """One tagged part of ``_LOAD``: each key of ``keys`` (``$n::type name`` items) looked up in
    ``table`` (``name alias``) through a LATERAL subquery on the keys' equal columns (after
    ``where``), ``LIMIT 1`` when they are ``unique``, else ``OFFSET 0``; ``probed`` are its
    columns, ``laid_out`` the shared columns after the tag."""
    alias = table.split()[1]
    items = [key.split() for key in keys.split(", ")]
    matched = " AND ".join(f"{alias}.{name} = k.{name}" for _, name in items)
    return (
        f"SELECT '{tag}', {laid_out}\n"
        f"FROM unnest({', '.join(array for array, _ in items)})"
        f" AS k ({', '.join(name for _, name in items)})\n"
        f"CROSS JOIN LATERAL (\n"
        f"    SELECT {probed} FROM {table}\n"
        f"    WHERE {where}{matched} {'LIMIT 1' if unique else 'OFFSET 0'}\n"
        f") {alias}\n"
    )


#: A bet laid out in the shared columns (but the last): ``_loaded_bet`` reads it.
_BET = (
    "b.provider, b.bet_tx_id, b.user_id, b.currency, b.round_id, b.mode, b.bonus_code,\n"
    "       b.state, b.operator_tx_id::text, b.amount, b.grant_id"
)
_EMPTY = "NULL, NULL, NULL, NULL, NULL, NULL"
_ACCOUNT_KEYS = "$4::text[] user_id, $5::text[] currency"

#: Each key that has a stored decision, with its ``decided_at``, or NULLs where only its
#: transaction is left (``_LOAD``). The key is looked up in ``idempotency_keys`` (unique and
#: unpartitioned: as exact as the lookup of one table); the stored answer itself is read
#: afterwards from the one monthly partition of ``decisions`` that ``decided_at`` names
#: (``stored_sql``), and only for the keys found, which are redeliveries: most batches hold only
#: new keys and read no partition at all. (A probe of ``decisions`` in this statement, pruned at
#: run time, cost every batch the locks and executor set-up of every month kept: 1.74 -> 2.82 ms
#: of Postgres CPU per one-command batch with 61 months, ``bench ledger-plan-cache --months 60``.)
_LOAD_DECISIONS = """
SELECT 'd', k.provider, k.kind, k.provider_tx_id, NULL::text, NULL::text, t.operator_tx_id::text,
       NULL::text, NULL::text, NULL::text, NULL::bigint, NULL::bigint, i.decided_at
FROM unnest($1::text[], $2::text[], $3::text[]) AS k (provider, kind, provider_tx_id)
LEFT JOIN LATERAL (
    SELECT i.decided_at FROM idempotency_keys i
    WHERE i.provider = k.provider AND i.kind = k.kind AND i.provider_tx_id = k.provider_tx_id
    LIMIT 1
) i ON true
LEFT JOIN LATERAL (
    SELECT t.operator_tx_id FROM transactions t
    WHERE i.decided_at IS NULL
      AND t.provider = k.provider AND t.kind = k.kind AND t.provider_tx_id = k.provider_tx_id
    LIMIT 1
) t ON true
WHERE i.decided_at IS NOT NULL OR t.operator_tx_id IS NOT NULL
"""


def month_of(decided_at: datetime) -> str:
    """The partition of ``decisions`` holding a decision of ``decided_at`` (migration 0038's
    ``decisions_add_months`` names each UTC month so)."""
    return f"decisions_{decided_at.astimezone(UTC):y%Ym%m}"


def stored_sql(partition: str) -> str:
    """The stored decisions of keys decided at known times, from the one partition ``partition``
    (named, so the plan holds that partition alone): a probe of its primary key per key."""
    return f"""
SELECT d.provider, d.kind, d.provider_tx_id, d.fingerprint, d.status, d.body,
       d.operator_tx_id::text
FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[])
    AS k (decided_at, provider, kind, provider_tx_id)
CROSS JOIN LATERAL (
    SELECT * FROM "{partition}" d
    WHERE d.decided_at = k.decided_at AND d.provider = k.provider AND d.kind = k.kind
      AND d.provider_tx_id = k.provider_tx_id
    LIMIT 1
) d
"""


#: Everything ``load`` reads, in ONE statement (one round trip instead of one per table):
#: each part's rows are tagged and laid out in shared columns (text t1-t9, bigint i1-i2,
#: timestamptz ts). A part whose arrays are empty reads nothing. A key without a stored decision
#: whose transaction exists comes back with NULLs but the transaction's id ('d' with no
#: fingerprint): retention deleted its decision, and it must not move money again (its
#: ``decision-expired`` answer names that id; the transaction is looked up only for keys without
#: a decision).
#:
#: Every part looks its keys up one by one through a LATERAL subquery that the planner cannot
#: flatten (``LIMIT 1`` on unique keys, ``OFFSET 0`` elsewhere), so the plan is an index probe
#: per key whatever the statistics say. A plain join let a plan cached while the tables were
#: small (or never analysed) hash-join against a sequential scan of ``decisions`` and
#: ``transactions`` in every batch, reading both tables whole as they grew.
_LOAD = "UNION ALL\n".join(
    (
        _LOAD_DECISIONS,
        _probe(
            "a",
            f"a.user_id, a.currency, a.status, {_EMPTY},\n       a.balance, NULL, NULL",
            "accounts a",
            _ACCOUNT_KEYS,
            unique=True,
            probed="a.user_id, a.currency, a.status, a.balance",
        ),
        _probe(
            "r",
            f"{_BET}, b.created_at",
            "bets b",
            "$6::text[] user_id, $7::text[] round_id",
            unique=False,
            probed="b.*",
        ),
        _probe(
            "b",
            f"{_BET}, NULL",
            "bets b",
            "$8::text[] provider, $9::text[] bet_tx_id",
            unique=True,
            probed="b.*",
        ),
        _probe(
            "l",
            f"l.provider, l.user_id, l.round_id, {_EMPTY},\n       NULL, NULL, NULL",
            "round_locks l",
            "$10::text[] user_id, $11::text[] round_id",
            unique=False,
            probed="l.provider, l.user_id, l.round_id",
        ),
        _probe(
            "t",
            "t.provider, t.bet_tx_id, t.rollback_tx_id, t.user_id, t.currency, NULL, NULL, NULL,"
            "\n       NULL, NULL, NULL, NULL",
            "rollback_tombstones t",
            "$12::text[] provider, $13::text[] bet_tx_id",
            unique=True,
            probed="t.*",
        ),
        _probe(
            "s",
            f"s.token, s.user_id, s.currency, {_EMPTY},\n       NULL, NULL, s.expires_at",
            "sessions s",
            "$14::text[] token",
            unique=True,
            probed="s.*",
        ),
        _probe(
            "g",
            f"g.user_id, g.currency, g.bonus_code, {_EMPTY},\n"
            "       g.grant_id, g.remaining, g.expires_at",
            "free_bet_grants g",
            "$15::text[] user_id, $16::text[] currency",
            unique=False,
            probed="g.*",
        ),
        _probe(
            "P",
            "p.user_id, p.currency, p.kind, p.period, NULL, NULL, NULL, NULL, NULL,\n"
            "       p.amount, p.pending_amount, p.pending_at",
            "player_limits p",
            _ACCOUNT_KEYS,
            unique=False,
            probed="p.*",
        ),
        _probe(
            "X",
            f"x.user_id, x.currency, x.kind, {_EMPTY},\n"
            "       (extract(epoch FROM x.since) * 1000000)::bigint, NULL, x.until",
            "player_exclusions x",
            _ACCOUNT_KEYS,
            unique=True,
            probed="x.*",
        ),
        _probe(
            "T",
            "t.user_id, t.currency, t.period, t.period_start::text, t.losses::text,\n"
            "       t.alerts::text, NULL, NULL, NULL, t.deposits, t.wagers, NULL",
            "limit_totals t",
            _ACCOUNT_KEYS,
            unique=False,
            probed="t.*",
        ),
        _probe(
            "o",
            f"NULL, NULL, NULL, {_EMPTY},\n       c.partition, c.next_offset, NULL",
            "consumed_offsets c",
            "$19::int[] partition",
            unique=True,
            probed="c.partition, c.next_offset",
            where="c.group_id = $17 AND c.topic = $18 AND ",
        ),
    )
)


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _loaded_bet(row: asyncpg.Record) -> Bet:
    """A bet from a ``_LOAD`` row ('r' or 'b')."""
    return Bet(
        provider=row[1],
        bet_tx_id=row[2],
        user_id=row[3],
        currency=row[4],
        round_id=row[5],
        amount=row[10],
        mode=row[6],
        bonus_code=row[7],
        grant_id=row[11],
        state=BetState(row[8]),
        operator_tx_id=row[9],
    )


async def load(
    conn: asyncpg.Connection,
    commands: Sequence[Command],
    group: str,
    topic: str,
    partitions: Iterable[int],
) -> tuple[BatchState, dict[int, int]]:
    """Every stored row the batch's commands can read, in a fresh ``BatchState``, and in the
    same statement the stored next offset of each of ``partitions`` (read, not locked; a
    partition with no stored offset is left out).

    One round trip (``_LOAD``); a batch with a rollback may need a second one, for the round
    locks of the rounds its loaded bets belong to.
    """
    wanted = _wanted(commands)
    state = BatchState()
    lock_rounds = set(wanted.lock_rounds)
    if wanted.rollbacks:  # a rollback reads the lock of its bet's round, loaded or placed now
        lock_rounds |= wanted.bet_rounds | wanted.rounds
    rows = await conn.fetch(
        _LOAD,
        *_columns(((k.provider, k.kind, k.provider_tx_id) for k in wanted.keys), 3),
        *_columns(wanted.accounts, 2),
        *_columns(wanted.rounds, 2),
        *_columns(wanted.bet_ids, 2),
        *_columns(lock_rounds, 2),
        *_columns(wanted.tombstone_ids, 2),
        list(wanted.tokens),
        *_columns(wanted.grant_owners, 2),
        group,
        topic,
        sorted(partitions),
    )
    stored: dict[int, int] = {}
    decided_at: dict[str, list[tuple[datetime, Key]]] = {}
    by_id: list[asyncpg.Record] = []
    by_round: list[asyncpg.Record] = []
    for row in rows:
        tag = row[0]
        if tag == "d":
            key = Key(row[1], row[2], row[3])
            if row[12] is None:
                state.expired[key] = row[6]
            else:
                decided_at.setdefault(month_of(row[12]), []).append((row[12], key))
        elif tag == "a":
            state.accounts[(row[1], row[2])] = Account(
                row[1], row[2], AccountStatus(row[3]), row[10]
            )
        elif tag == "r":
            by_round.append(row)
        elif tag == "b":
            by_id.append(row)
        elif tag == "l":
            state.round_locks.add((row[1], row[2], row[3]))
        elif tag == "t":
            state.tombstones[(row[1], row[2])] = Tombstone(row[1], row[2], row[3], row[4], row[5])
        elif tag == "s":
            state.sessions[row[1]] = Session(row[1], row[2], row[3], row[12])
        elif tag == "g":
            state.grants[row[10]] = Grant(row[10], row[1], row[2], row[3], row[11], row[12])
        elif tag == "o":
            stored[row[10]] = row[11]
        elif tag == "P":
            limit = Limit(LimitKind(row[3]), LimitPeriod(row[4]), row[10], row[11], row[12])
            state.limits.setdefault((row[1], row[2]), {})[(limit.kind, limit.period)] = limit
        elif tag == "X":
            since = _EPOCH + timedelta(microseconds=row[10])
            state.exclusions[(row[1], row[2])] = Exclusion(ExclusionKind(row[3]), since, row[12])
        elif tag == "T":
            period = LimitPeriod(row[3])
            state.totals[(row[1], row[2], period)] = Totals(
                period, date.fromisoformat(row[4]), row[10], row[11], int(row[5]), int(row[6])
            )
    await _load_stored(conn, state, decided_at)
    _add_bets(state, by_round, by_id)
    if wanted.rollbacks:
        more = {
            (bet.user_id, bet.round_id)
            for bet in state.bets.values()
            if bet.round_id is not None and (bet.user_id, bet.round_id) not in lock_rounds
        }
        if more:
            for row in await conn.fetch(_ROUND_LOCKS, *_columns(more, 2)):
                state.round_locks.add((row[0], row[1], row[2]))
    return state, stored


def _add_bets(
    state: BatchState, by_round: list[asyncpg.Record], by_id: list[asyncpg.Record]
) -> None:
    """A round's bets in the order they were placed; then the bets named by id that no round
    brought (a bet can come both ways: it is added once)."""
    by_round.sort(key=lambda row: (row[12], row[2]))
    for row in by_round:
        state.add_bet(_loaded_bet(row))
    for row in by_id:
        if (row[1], row[2]) not in state.bets:
            state.add_bet(_loaded_bet(row))


async def _load_stored(
    conn: asyncpg.Connection,
    state: BatchState,
    decided_at: dict[str, list[tuple[datetime, Key]]],
) -> None:
    """The stored decisions of the keys found, one statement per partition that holds some
    (partition -> (decided_at, key)). A key whose month retention dropped since the load read
    it (its key was deleted first) is contention: the batch is loaded again after a backoff,
    and then finds no key. A key whose month is there without its decision is a history changed
    behind the ledger's back (``MissingDecision``): it stops the partition."""
    for partition, keys in decided_at.items():
        columns = _columns(((at, k.provider, k.kind, k.provider_tx_id) for at, k in keys), 4)
        try:
            rows = await conn.fetch(stored_sql(partition), *columns)
        except asyncpg.UndefinedTableError as exc:
            raise Contended(f"{partition} was dropped while a batch read its keys") from exc
        for row in rows:
            key = Key(row[0], row[1], row[2])
            state.decisions[key] = StoredDecision(row[3], row[4], row[5], row[6])
        missing = [key for _, key in keys if key not in state.decisions]
        if missing:
            raise MissingDecision(
                f"{len(missing)} keys have no decision in {partition}, first"
                f" {missing[0].provider}/{missing[0].kind}/{missing[0].provider_tx_id}"
            )


#: Session settings of the ledger's connections. The ledger joins a batch's few keys (``unnest``
#: of arrays) against tables that only grow; the right plan is always an index probe per key.
#: With hash and merge joins off, an ``UPDATE ... FROM unnest(...)`` is a nested loop over the
#: keys whatever the statistics say (a plan made while a table was small would otherwise
#: hash-join against a sequential scan of the whole table in every batch), and ``_LOAD``'s
#: LATERAL parts are index probes by construction. So the plan never depends on the parameters,
#: and each prepared statement is planned once (``force_generic_plan``): left to choose,
#: Postgres re-planned ``_LOAD`` for every batch (its generic plan's estimate, made for arrays
#: of unknown length, never beat a custom plan for the batch's few keys), which cost three times
#: the Postgres CPU of a one-command batch (bench/ledger_plan_cache.py; docs/benchmarks.md).
KEY_LOOKUPS_ONLY: Final = {
    "enable_hashjoin": "off",
    "enable_mergejoin": "off",
    "plan_cache_mode": "force_generic_plan",
}


# -- writing ----------------------------------------------------------------------------------

#: Insert-only tables: the columns the ledger writes, in row order, with their Postgres types (each
#: table's row type of ``_WRITE``, ``row_type``, has the same).
INSERTS: dict[str, tuple[tuple[str, str], ...]] = {
    # The key of each stored decision, with no ON CONFLICT: a concurrent duplicate (or a key
    # whose decision retention left behind) fails the statement on idempotency_keys_pkey as it
    # failed on decisions' primary key before the table was partitioned; DO NOTHING would let
    # the batch's money be written without its key. decided_at is now() in both tables.
    "idempotency_keys": (
        ("provider", "text"),
        ("kind", "text"),
        ("provider_tx_id", "text"),
        ("operator_tx_id", "uuid"),
    ),
    "decisions": (
        ("provider", "text"),
        ("kind", "text"),
        ("provider_tx_id", "text"),
        ("user_id", "text"),
        ("currency", "text"),
        ("fingerprint", "text"),
        ("outcome", "text"),
        ("status", "smallint"),
        ("body", "text"),
        ("operator_tx_id", "uuid"),
        ("flags", "text"),  # comma-joined (so it was when each column was an array of its own)
        ("source_topic", "text"),
        ("source_partition", "integer"),
        ("source_offset", "bigint"),
        ("occurred_at", "timestamptz"),
        ("session_token", "text"),
        ("round_id", "text"),
        ("amount", "numeric"),
        ("target_tx_id", "text"),
        ("mode", "text"),
    ),
    "accounts": (
        ("user_id", "text"),
        ("currency", "text"),
        ("status", "text"),
        ("balance", "bigint"),
    ),
    "transactions": (
        ("operator_tx_id", "uuid"),
        ("kind", "text"),
        ("provider", "text"),
        ("provider_tx_id", "text"),
        ("user_id", "text"),
        ("currency", "text"),
        ("round_id", "text"),
        ("session_token", "text"),
    ),
    "postings": (
        ("operator_tx_id", "uuid"),
        ("leg", "smallint"),
        ("account_type", "text"),
        ("account_ref", "text"),
        ("currency", "text"),
        ("amount", "bigint"),
        ("balance_after", "bigint"),  # services.ledger.balances
    ),
    "bets": (
        ("provider", "text"),
        ("bet_tx_id", "text"),
        ("user_id", "text"),
        ("currency", "text"),
        ("round_id", "text"),
        ("amount", "bigint"),
        ("mode", "text"),
        ("bonus_code", "text"),
        ("grant_id", "bigint"),
        ("state", "text"),
        ("operator_tx_id", "uuid"),
    ),
    "rollback_tombstones": (
        ("provider", "text"),
        ("bet_tx_id", "text"),
        ("rollback_tx_id", "text"),
        ("user_id", "text"),
        ("currency", "text"),
    ),
    "round_locks": (
        ("provider", "text"),
        ("user_id", "text"),
        ("round_id", "text"),
        ("operator_tx_id", "uuid"),
    ),
    "outbox": (
        ("event_id", "uuid"),
        ("topic", "text"),
        ("message_key", "text"),
        ("payload", "text"),
        ("traceparent", "text"),
    ),
    "protection_changes": (
        ("operator_tx_id", "uuid"),
        ("time_zone", "text"),
        ("user_id", "text"),
        ("currency", "text"),
        ("change", "text"),
        ("idempotency_key", "text"),
        ("limit_kind", "text"),
        ("period", "text"),
        ("amount", "bigint"),
        ("exclusion", "text"),
        ("until", "timestamptz"),
        ("requested_at", "timestamptz"),
        ("requested_by", "text"),
        ("reason", "text"),
        ("effective_at", "timestamptz"),
    ),
}

#: Player protection's current-state tables, written as upserts of the batch's final values:
#: their columns (name, type) and their key.
UPSERTS: dict[str, tuple[tuple[tuple[str, str], ...], tuple[str, ...]]] = {
    "player_limits": (
        (
            ("user_id", "text"),
            ("currency", "text"),
            ("kind", "text"),
            ("period", "text"),
            ("amount", "bigint"),
            ("pending_amount", "bigint"),
            ("pending_at", "timestamptz"),
        ),
        ("user_id", "currency", "kind", "period"),
    ),
    "player_exclusions": (
        (
            ("user_id", "text"),
            ("currency", "text"),
            ("kind", "text"),
            ("since", "timestamptz"),
            ("until", "timestamptz"),
        ),
        ("user_id", "currency"),
    ),
    "limit_totals": (
        (
            ("user_id", "text"),
            ("currency", "text"),
            ("period", "text"),
            ("period_start", "date"),
            ("deposits", "bigint"),
            ("wagers", "bigint"),
            ("losses", "bigint"),
            ("alerts", "smallint"),
        ),
        ("user_id", "currency", "period"),
    ),
}

#: The updates of rows a batch changes: (table, the set-clause, the key), with the columns and
#: types of its rows (its row type). Deltas are added, so the statement is right whatever it reads.
UPDATES: dict[str, tuple[tuple[tuple[str, str], ...], str, str]] = {
    "accounts": (
        (("user_id", "text"), ("currency", "text"), ("status", "text"), ("delta", "bigint")),
        "balance = t.balance + d.delta, status = d.status, updated_at = now()",
        "t.user_id = d.user_id AND t.currency = d.currency",
    ),
    "free_bet_grants": (
        (("grant_id", "bigint"), ("delta", "integer")),
        "remaining = t.remaining + d.delta",
        "t.grant_id = d.grant_id",
    ),
    "bets": (
        (("provider", "text"), ("bet_tx_id", "text"), ("state", "text")),
        "state = d.state, updated_at = now()",
        "t.provider = d.provider AND t.bet_tx_id = d.bet_tx_id",
    ),
}


@dataclass(frozen=True, slots=True)
class Source:
    topic: str
    partition: int
    traceparent: str | None = None
    """The command's W3C trace context, stored on its outbox rows (``services/ledger/spans.py``)."""


#: A decision to store, with where its command came from (partition and offset) and the command.
Sourced = tuple[Source, int, Command, Decision]


def as_sent(
    command: Command,
) -> tuple[str | None, str | None, Decimal | None, str | None, str | None]:
    """What a webhook asked for, stored with its decision for the reconciler: the session, the
    round, the amount as sent, the bet a rollback undoes and the mode (None for operator
    commands)."""
    if isinstance(command, OperatorCommand):
        return None, None, None, None, None
    target = command.rollback_target if command.kind is WebhookKind.ROLLBACK else None
    return command.session_token, command.round_id, command.amount, target, command.mode.value


@dataclass(frozen=True, slots=True)
class Offsets:
    """What a batch moves: for one group and topic, partition -> the offset it expects to find
    stored, and the one it stores."""

    group: str
    topic: str
    expected: dict[int, int]
    next: dict[int, int]


@dataclass(slots=True)
class _Rows:
    """A batch's rows per table (tuples in column order), its updates and its upserts."""

    inserts: dict[str, list[tuple[Any, ...]]]
    updates: dict[str, list[tuple[Any, ...]]]
    upserts: dict[str, list[tuple[Any, ...]]]


def _write_sql() -> str:
    """The whole batch as ONE statement of data-modifying CTEs over ``unnest`` arrays, written
    only if every offset it moves is still the one it expects.

    Its first five parameters are the group, the topic, and the partitions, next offsets and
    expected offsets as arrays; then one array of rows per table, of the table's row type
    (``row_type``, migration 0039: asyncpg checks an array of rows once per row, an array of
    columns once per element). ``held`` locks, in
    partition order, the offset rows still at their expected value (under READ COMMITTED
    ``FOR UPDATE`` waits for a writer holding a row and re-checks the condition on what that
    writer committed); every other part, the offsets' own update included, writes only if all
    of them are held. The statement returns how many offsets moved: all of the batch's
    partitions, or none. Every CTE runs to completion within the statement; foreign keys and the
    statement-level zero-sum trigger on postings are checked at its end.
    """
    number = 5
    guard = "(SELECT count(*) FROM held) = cardinality($3::integer[])"

    def unnest(row_type: str, alias: str = "r") -> str:
        nonlocal number
        number += 1
        return f"unnest(${number}::{row_type}[]) AS {alias}"

    ctes = [
        "held AS (SELECT c.partition FROM consumed_offsets c"
        " JOIN unnest($3::integer[], $5::bigint[]) AS k (partition, expected)"
        " ON c.partition = k.partition"
        " WHERE c.group_id = $1 AND c.topic = $2 AND c.next_offset = k.expected"
        " ORDER BY c.partition FOR UPDATE OF c)",
        # No ``next_offset = expected`` test here: ``held`` holds these rows, checked, and the
        # offsets must move under the very condition the rows are written under.
        "moved AS (UPDATE consumed_offsets c SET next_offset = k.next_offset, updated_at = now()"
        " FROM unnest($3::integer[], $4::bigint[]) AS k (partition, next_offset)"
        " WHERE c.group_id = $1 AND c.topic = $2 AND c.partition = k.partition"
        f" AND {guard} RETURNING c.partition)",
    ]
    for table, columns in INSERTS.items():
        names = ", ".join(name for name, _ in columns)
        selected = ", ".join(
            "coalesce(string_to_array(nullif(r.flags, ''), ','), '{}')"
            if name == "flags"
            else f"r.{name}"
            for name, _ in columns
        )
        ctes.append(
            f"insert_{table} AS (INSERT INTO {table} ({names}) SELECT {selected}"
            f" FROM {unnest(row_type('insert', table))} WHERE {guard})"
        )
    for table, (columns, key) in UPSERTS.items():
        names = ", ".join(name for name, _ in columns)
        assigned = [f"{name} = EXCLUDED.{name}" for name, _ in columns if name not in key]
        if table != "limit_totals":
            assigned.append("updated_at = now()")
        ctes.append(
            f"upsert_{table} AS (INSERT INTO {table} ({names})"
            f" SELECT {', '.join(f'r.{name}' for name, _ in columns)}"
            f" FROM {unnest(row_type('upsert', table))}"
            f" WHERE {guard} ON CONFLICT ({', '.join(key)}) DO UPDATE SET {', '.join(assigned)})"
        )
    for table, (_, sets, match) in UPDATES.items():
        source = unnest(row_type("update", table), alias="d")
        ctes.append(
            f"update_{table} AS (UPDATE {table} t SET {sets} FROM {source}"
            f" WHERE {match} AND {guard})"
        )
    return "WITH " + ",\n".join(ctes) + "\nSELECT count(*) FROM moved"


def row_type(part: str, table: str) -> str:
    """The row type (migration 0039) of ``table``'s rows in ``_WRITE``'s ``part`` (insert,
    upsert, update): the columns ``INSERTS``, ``UPSERTS`` or ``UPDATES`` give, in order."""
    return f"ledger_{part}_{table}"


_WRITE: Final = _write_sql()

_FLAGS: Final = [name for name, _ in INSERTS["decisions"]].index("flags")


def _write_args(rows: _Rows, offsets: Offsets) -> list[Any]:
    partitions = sorted(offsets.next)
    args: list[Any] = [offsets.group, offsets.topic, partitions]
    args += [[offsets.next[p] for p in partitions], [offsets.expected[p] for p in partitions]]
    for table in INSERTS:
        table_rows = rows.inserts[table]
        if table == "decisions":
            table_rows = [
                (*row[:_FLAGS], ",".join(row[_FLAGS]), *row[_FLAGS + 1 :]) for row in table_rows
            ]
        args.append(table_rows)
    args.extend(rows.upserts[table] for table in UPSERTS)
    args.extend(rows.updates[table] for table in UPDATES)
    return args


#: This month's and next month's partitions of ``decisions``, where missing (migration 0038's
#: ``decisions_add_months``); the number it attached.
_ADD_MONTHS = "SELECT decisions_add_months(now(), now() + interval '1 month')"


async def add_months(conn: asyncpg.Connection) -> int:
    """Attach the partitions of ``decisions`` for this month and the next where missing; how
    many it attached. The ledger calls it at start and every hour, retention at each run, and a
    batch that met a month without its partition (``lacks_partition``) before it is written
    again: a decision is never refused for want of a partition."""
    added: int = await conn.fetchval(_ADD_MONTHS)
    return added


def lacks_partition(exc: BaseException) -> bool:
    """``exc`` is Postgres's refusal of a row of ``decisions`` whose month has no partition: a
    check violation on the table with no constraint named (every CHECK of the table names
    itself)."""
    return (
        isinstance(exc, asyncpg.CheckViolationError)
        and exc.table_name == "decisions"
        and not exc.constraint_name
    )


async def write(
    conn: asyncpg.Connection,
    state: BatchState,
    decided: Sequence[Sourced],
    events_topic: str,
    offsets: Offsets,
) -> bool:
    """Write the batch in ONE statement, only if every partition's stored offset is still the
    one ``offsets`` expects; True if written, False if nothing was.

    Written: every stored decision (each with the partition and offset it came from), movement,
    state change and outbox event, and the offsets it moves. The state was read without a lock
    (``load``), and every batch that changes a row this batch read also moves the offset of that
    player's partition (one writer per partition): if any offset moved meanwhile, nothing of the
    batch is written and the caller loads again.
    """
    if not offsets.next:
        raise ValueError("a batch moves at least one offset")
    if set(offsets.expected) != set(offsets.next):
        raise ValueError("expected and next offsets name different partitions")
    rows = _rows(state, decided, events_topic)
    moved: int = await conn.fetchval(_WRITE, *_write_args(rows, offsets))
    return moved == len(offsets.next)


def _rows(state: BatchState, decided: Sequence[Sourced], events_topic: str) -> _Rows:
    """A row per stored decision, and its effects' rows (``_Effects``)."""
    decisions: list[tuple[Any, ...]] = []
    effects = _Effects(events_topic)
    for source, offset, command, decision in decided:
        if not decision.stored or decision.key is None:
            continue
        key = decision.key
        decisions.append(
            (
                key.provider,
                key.kind,
                key.provider_tx_id,
                decision.user_id,
                decision.currency,
                decision.fingerprint,
                decision.outcome,
                decision.status,
                decision.body,
                decision.operator_tx_id,
                list(decision.flags),
                source.topic,
                source.partition,
                offset,
                decision.occurred_at,
                *as_sent(command),
            )
        )
        effects.add(decision, source)
    return effects.rows(state, decisions)


@dataclass(slots=True)
class _Effects:
    """A batch's effects, gathered decision by decision (``add``): the rows of the insert-only
    tables as they come, and which current-state rows changed, written with the values the batch
    left in its state (``rows``)."""

    events_topic: str
    transactions: list[tuple[Any, ...]] = field(default_factory=list)
    postings: list[tuple[Any, ...]] = field(default_factory=list)
    tombstones: list[tuple[Any, ...]] = field(default_factory=list)
    round_locks: list[tuple[Any, ...]] = field(default_factory=list)
    outbox: list[tuple[Any, ...]] = field(default_factory=list)
    protection_changes: list[tuple[Any, ...]] = field(default_factory=list)
    new_accounts: set[tuple[str, str]] = field(default_factory=set)
    account_deltas: dict[tuple[str, str], int] = field(default_factory=dict)
    """Accounts that existed before the batch -> the sum of their postings in it (a blocked or
    unblocked account is here too, with what it moved)."""
    new_bets: set[tuple[str, str]] = field(default_factory=set)
    changed_bets: set[tuple[str, str]] = field(default_factory=set)
    """Bets that existed before the batch and changed state in it."""
    grant_deltas: dict[int, int] = field(default_factory=dict)
    limits: set[tuple[str, str, LimitKind, LimitPeriod]] = field(default_factory=set)
    exclusions: set[tuple[str, str]] = field(default_factory=set)
    totals: set[tuple[str, str, LimitPeriod]] = field(default_factory=set)

    def add(self, decision: Decision, source: Source) -> None:
        """Each effect of ``decision`` to its rows: the one place an effect meets SQL."""
        user, currency = account = (decision.user_id, decision.currency)
        for effect in decision.effects:
            match effect:
                case Totals():
                    self.totals.add((user, currency, effect.period))
                case OutboxEvent():
                    self.outbox.append(
                        (
                            effect.event_id,
                            self.events_topic,
                            effect.key,
                            effect.payload,
                            source.traceparent,
                        )
                    )
                case Movement():
                    self._movement(decision.operator_tx_id, effect)
                case PlaceBet():
                    self.new_bets.add((effect.bet.provider, effect.bet.bet_tx_id))
                case BetChange():
                    bet = (effect.provider, effect.bet_tx_id)
                    if bet not in self.new_bets:
                        self.changed_bets.add(bet)
                case GrantChange():
                    grant_id = effect.grant_id
                    self.grant_deltas[grant_id] = self.grant_deltas.get(grant_id, 0) + effect.delta
                case OpenAccount():
                    self.new_accounts.add((effect.account.user_id, effect.account.currency))
                case SetAccountStatus():
                    if account not in self.new_accounts:
                        self.account_deltas.setdefault(account, 0)
                case Tombstone():
                    self.tombstones.append(
                        (
                            effect.provider,
                            effect.bet_tx_id,
                            effect.rollback_tx_id,
                            effect.user_id,
                            effect.currency,
                        )
                    )
                case RoundLock():
                    self.round_locks.append(
                        (effect.provider, effect.user_id, effect.round_id, effect.operator_tx_id)
                    )
                case Limit():
                    self.limits.add((user, currency, effect.kind, effect.period))
                case Exclusion():
                    self.exclusions.add(account)
                case ProtectionRecord():
                    self.protection_changes.append(
                        (
                            decision.operator_tx_id,
                            effect.time_zone,
                            user,
                            currency,
                            effect.change,
                            effect.idempotency_key,
                            effect.limit_kind,
                            effect.period,
                            effect.amount,
                            effect.exclusion,
                            effect.until,
                            effect.requested_at,
                            effect.requested_by,
                            effect.reason,
                            effect.effective_at,
                        )
                    )
                case _:
                    assert_never(effect)

    def _movement(self, operator_tx_id: str | None, movement: Movement) -> None:
        self.transactions.append(
            (
                operator_tx_id,
                movement.kind,
                movement.provider,
                movement.provider_tx_id,
                movement.user_id,
                movement.currency,
                movement.round_id,
                movement.session_token,
            )
        )
        for leg, posting in enumerate(movement.postings):
            self.postings.append(
                (
                    operator_tx_id,
                    leg,
                    posting.account_type,
                    posting.account_ref,
                    posting.currency,
                    posting.amount,
                )
            )
            held = (posting.account_ref, posting.currency)
            if posting.account_type is PLAYER and held not in self.new_accounts:
                self.account_deltas[held] = self.account_deltas.get(held, 0) + posting.amount

    def rows(self, state: BatchState, decisions: list[tuple[Any, ...]]) -> _Rows:
        """Every table's rows; current-state rows hold the values the batch left in ``state``."""
        accounts, bets = state.accounts, state.bets
        limits = []
        for user, currency, kind, period in sorted(self.limits):
            limit = state.limits[(user, currency)][(kind, period)]
            limits.append(
                (user, currency, kind, period, limit.amount, limit.pending_amount, limit.pending_at)
            )
        exclusions = []
        for user, currency in sorted(self.exclusions):
            exclusion = state.exclusions[(user, currency)]
            exclusions.append((user, currency, exclusion.kind, exclusion.since, exclusion.until))
        totals = []
        for user, currency, period in sorted(self.totals):
            t = state.totals[(user, currency, period)]
            totals.append(
                (user, currency, period, t.start, t.deposits, t.wagers, t.losses, t.alerts)
            )
        return _Rows(
            inserts={
                "idempotency_keys": [(row[0], row[1], row[2], row[9]) for row in decisions],
                "decisions": decisions,
                "accounts": [
                    (opened.user_id, opened.currency, opened.status, opened.balance)
                    for opened in (accounts[key] for key in sorted(self.new_accounts))
                ],
                "transactions": self.transactions,
                "postings": with_balances_after(
                    self.postings, lambda u, c: accounts[(u, c)].balance
                ),
                "bets": [_bet_row(bets[key]) for key in sorted(self.new_bets)],
                "rollback_tombstones": self.tombstones,
                "round_locks": self.round_locks,
                "outbox": self.outbox,
                "protection_changes": self.protection_changes,
            },
            updates={
                "accounts": [
                    (user, currency, accounts[(user, currency)].status, delta)
                    for (user, currency), delta in sorted(self.account_deltas.items())
                ],
                "free_bet_grants": sorted(self.grant_deltas.items()),
                "bets": [(p, b, bets[(p, b)].state) for p, b in sorted(self.changed_bets)],
            },
            upserts={
                "player_limits": limits,
                "player_exclusions": exclusions,
                "limit_totals": totals,
            },
        )


def _bet_row(bet: Bet) -> tuple[Any, ...]:
    return (
        bet.provider,
        bet.bet_tx_id,
        bet.user_id,
        bet.currency,
        bet.round_id,
        bet.amount,
        bet.mode,
        bet.bonus_code,
        bet.grant_id,
        bet.state,
        bet.operator_tx_id,
    )
