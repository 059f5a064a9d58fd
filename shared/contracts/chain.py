"""The ledger's daily chain heads event (``event_type`` ``wallet.chain_heads``).

Published once per day (the operator's time zone) on ``wallet.transactions.v1``, keyed
``chain-heads``, through the ledger's outbox: a digest of the head of every account's hash chain
that moved that day, chained to the previous day's root. Keep a copy outside the operator's
database (a regulator's inbox, a write-once bucket): recomputing a past day's root from the
ledger and finding another value proves a stored transaction was rewritten
(``services/ledger/chain.py``).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CHAIN_HEADS_EVENT_TYPE: Literal["wallet.chain_heads"] = "wallet.chain_heads"
CHAIN_HEADS_KEY = "chain-heads"


class ChainHeadsEvent(BaseModel):
    """One day's chain heads, summarised."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="ChainHeadsEvent")

    event_id: str = Field(description="Stable per day (UUID); dedupe on it.")
    event_type: Literal["wallet.chain_heads"] = CHAIN_HEADS_EVENT_TYPE
    schema_version: Literal[1] = 1
    day: date = Field(description="The day, in the operator's time zone.")
    time_zone: str = Field(description="The operator's time zone the day is counted in.")
    accounts: int = Field(description="Accounts whose chain moved that day.")
    links: int = Field(description="Transactions chained that day.")
    digest: str = Field(description="SHA-256 (hex) over (user_id, currency, head) of each account.")
    previous_root: str = Field(description="The root of the day before (64 zeros for the first).")
    root: str = Field(description="SHA-256 (hex) of previous_root and digest.")
