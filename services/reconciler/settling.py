"""Settling the lost bets of finished rounds: the ledger commands, sent after the findings.

The matcher (``services.reconciler.rounds``) names the open bets of rounds Hypetech reports
``FINISHED`` that nothing won; they are stored with the session's findings and sent here, each
as one ``settle_lost`` ledger command (reason ``round-finished``) signed with the reconciler's
key, like the operator API's commands. The command moves no money. Its idempotency key names the
round and its open bets, so a settlement sent twice (a reconciler killed before it recorded the
reply, a session checked again) is the same command, answered from the ledger's record.
On by default (``HYPELEDGER_SETTLE_LOST_ON_FINISHED_ROUNDS``); turned off, the same bets are
reported as ``open_bet_on_finished_round`` findings instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import asyncpg

from services.reconciler.metrics import ReconcilerMetrics
from services.reconciler.rounds import REASON
from services.reconciler.store import ReconcilerStore
from shared.contracts.commands import LEDGER_REPLY, OperatorCommand, OperatorKind
from shared.kafka_rpc import KafkaRpcClient, RpcError
from shared.logs import get_logger

REQUESTED_BY = "reconciler"
#: Settlement commands awaiting their replies at once.
IN_FLIGHT = 32


class RoundSettler:
    def __init__(
        self,
        rpc: KafkaRpcClient,
        store: ReconcilerStore,
        metrics: ReconcilerMetrics,
        *,
        timeout_s: float,
        clock: Callable[[], datetime],
    ) -> None:
        self._rpc = rpc
        self._store = store
        self._metrics = metrics
        self._timeout_s = timeout_s
        self._clock = clock
        self._log = get_logger("reconciler.settling")

    async def send_unsent(self) -> int:
        """Send every stored settlement not yet answered, ``IN_FLIGHT`` at a time; returns how
        many the ledger applied. One left unanswered stays unsent and goes out on the next call."""
        rows = await self._store.unsent_settlements()
        applied = 0
        for start in range(0, len(rows), IN_FLIGHT):
            sent = await asyncio.gather(
                *(self._send(row) for row in rows[start : start + IN_FLIGHT])
            )
            applied += sum(sent)
        return applied

    async def _send(self, row: asyncpg.Record) -> bool:
        key = row["idempotency_key"]
        bets = list(row["bet_tx_ids"])
        command = OperatorCommand(
            kind=OperatorKind.SETTLE_LOST,
            idempotency_key=key,
            user_id=row["user_id"],
            currency=row["currency"],
            round_id=row["round_id"],
            reason=REASON,
            requested_by=REQUESTED_BY,
            requested_at=self._clock(),
        )
        try:
            reply = await self._rpc.request(
                key=command.user_id,
                value=command.model_dump_json().encode(),
                timeout_s=self._timeout_s,
            )
        except RpcError as exc:
            self._metrics.errors.labels("settle_round").inc()
            self._log.warning("reconciler.settle.unanswered", key=key, error=str(exc))
            return False
        status = LEDGER_REPLY.validate_json(reply.value).status
        await self._store.settlement_sent(key, status)
        self._metrics.rounds_settled.labels(str(status)).inc()
        if status != 200:
            self._log.warning(
                "reconciler.settle.refused", key=key, status=status, round_id=row["round_id"]
            )
            return False
        self._metrics.bets_settled_lost.inc(len(bets))
        return True
