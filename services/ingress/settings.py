"""The ingress's settings: ``HYPELEDGER_`` environment variables (``shared.settings`` has the
common ones)."""

from __future__ import annotations

from pydantic import Field, model_validator

from shared.settings import MIN_PROVIDER_SECRET_LENGTH, CommonSettings, HttpServerLimits, SecretList


class IngressSettings(CommonSettings, HttpServerLimits):
    host: str = "127.0.0.1"
    port: int = 8080
    public_base_url: str = "http://127.0.0.1:8080"
    hypetech_api_keys: SecretList = Field(default_factory=list)
    ledger_timeout_s: float = Field(default=3.0, gt=0)
    """How long a webhook waits for the ledger's reply before the 503 ``ledger-unavailable``
    (with ``Retry-After``). Below Hypetech's own wait (undocumented; 5 s observed, which the
    simulator keeps), so the 503 reaches Hypetech while it still listens."""
    max_body_bytes: int = Field(default=64 * 1024, gt=0)
    retry_after_s: int = Field(default=1, ge=0)
    path_bet: str = "/webhooks/hypetech/bet"
    path_win: str = "/webhooks/hypetech/win"
    path_rollback: str = "/webhooks/hypetech/rollback"
    path_balance: str = "/webhooks/hypetech/balance"
    instance_id: str = ""

    @model_validator(mode="after")
    def _secrets(self) -> IngressSettings:
        self.check_secrets("hypetech_api_keys", self.hypetech_api_keys, MIN_PROVIDER_SECRET_LENGTH)
        return self
