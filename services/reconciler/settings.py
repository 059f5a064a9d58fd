"""The reconciler's settings: ``HYPELEDGER_`` environment variables (``shared.settings`` has the
common ones, ``shared.hypetech.settings`` the Hypetech client's)."""

from __future__ import annotations

from pydantic import Field, model_validator

from shared.hypetech.settings import HypetechClientSettings


class ReconcilerSettings(HypetechClientSettings):
    interval_s: float = Field(default=300.0, gt=0)
    grace_period_s: float = Field(default=600.0, ge=0)
    concurrency: int = Field(default=8, ge=1, le=256)
    requests_per_second: float = Field(default=50.0, gt=0)
    page_size: int = Field(default=100, ge=1, le=1000)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9102
    chunk_size: int = Field(default=64, ge=1, le=10_000)
    """Sessions committed together (findings and progress in one transaction)."""
    settle_lost_on_finished_rounds: bool = True
    """Settle the open bets of rounds Hypetech reports FINISHED, that nothing won there, as lost
    (a ledger command, reason ``round-finished``, no money moves). Off: they are findings."""
    ledger_timeout_s: float = Field(default=5.0, gt=0)
    instance_id: str = "reconciler"

    @model_validator(mode="after")
    def _session_pooling(self) -> ReconcilerSettings:
        if self.database_transaction_pooling:
            raise ValueError(
                "the reconciler holds a session-level advisory lock for a whole run: connect it "
                "to Postgres directly or through a session-mode pool (docs/deploy.md#pgbouncer)"
            )
        return self
