"""The ledger seen through Kafka request-reply (``shared.kafka_rpc``), keyed by player."""

from __future__ import annotations

from pydantic import ValidationError

from services.operator_api.ports import LedgerUnavailable
from shared.contracts.commands import LEDGER_REPLY, LedgerReply, OperatorCommand
from shared.kafka_rpc import KafkaRpcClient, RpcError


class KafkaLedger:
    def __init__(self, rpc: KafkaRpcClient, timeout_s: float) -> None:
        self.rpc = rpc
        self.timeout_s = timeout_s

    async def send(self, command: OperatorCommand) -> LedgerReply:
        try:
            reply = await self.rpc.request(
                key=command.user_id,
                value=command.model_dump_json().encode(),
                timeout_s=self.timeout_s,
            )
        except RpcError as exc:
            raise LedgerUnavailable(str(exc)) from exc
        try:
            return LEDGER_REPLY.validate_json(reply.value)
        except ValidationError as exc:
            raise LedgerUnavailable(f"the ledger's reply is not a LedgerReply: {exc}") from exc
