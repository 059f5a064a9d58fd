"""Correction policies, off by default. Each correction is an ordinary, idempotent ledger command
with a reason, sent through the same request-reply path as the operator's own commands.

``settle_lost``: a bet still open here while Hypetech reports its round FINISHED (doc generations
without a lose webhook) is settled as lost. The idempotency key names the player and round, so
a retried or repeated correction is the same command and the ledger answers it from its record.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from services.reconciler.metrics import ReconcilerMetrics
from services.reconciler.store import ReconcilerStore
from shared.contracts.commands import LEDGER_REPLY, OperatorCommand, OperatorKind
from shared.kafka_rpc import KafkaRpcClient, RpcError
from shared.logs import get_logger

POLICY_SETTLE_LOST = "settle_lost"
CORRECTED_BY = "reconciler:settle_lost"


def settle_lost_key(user_id: str, currency: str, round_id: str) -> str:
    return f"reconciler:settle_lost:{user_id}:{currency}:{round_id}"


class SettleLostPolicy:
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
        self._log = get_logger("reconciler.corrections")

    async def apply(self) -> int:
        """Settle every open finding of this class; returns how many the ledger applied."""
        applied = 0
        for finding in await self._store.open_bets_to_settle():
            key = settle_lost_key(finding["user_id"], finding["currency"], finding["round_id"])
            command = OperatorCommand(
                kind=OperatorKind.SETTLE_LOST,
                idempotency_key=key,
                user_id=finding["user_id"],
                currency=finding["currency"],
                round_id=finding["round_id"],
                reason=f"round FINISHED at Hypetech (finding {finding['finding_id']})",
                requested_by="reconciler",
                requested_at=self._clock(),
            )
            try:
                reply = await self._rpc.request(
                    key=command.user_id,
                    value=command.model_dump_json().encode(),
                    timeout_s=self._timeout_s,
                )
            except RpcError as exc:
                self._metrics.errors.labels("correction").inc()
                self._log.warning("reconciler.correction.unanswered", key=key, error=str(exc))
                continue
            status = LEDGER_REPLY.validate_json(reply.value).status
            self._metrics.corrections.labels(POLICY_SETTLE_LOST, str(status)).inc()
            if status != 200:
                self._log.warning("reconciler.correction.refused", key=key, status=status)
                continue
            await self._store.mark_corrected(finding["finding_id"], key)
            await self._store.set_status(
                [finding["finding_id"]], "resolved", CORRECTED_BY, f"settled as lost ({key})"
            )
            applied += 1
        return applied
