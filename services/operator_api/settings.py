"""The operator API's settings: ``HYPELEDGER_`` environment variables (``shared.settings`` has
the common ones, ``shared.hypetech.settings`` the Hypetech client's)."""

from __future__ import annotations

from pydantic import Field, model_validator

from shared.hypetech.settings import HypetechClientSettings
from shared.settings import HttpServerLimits, LedgerTimeZone, SecretList


class OperatorApiSettings(HypetechClientSettings, HttpServerLimits, LedgerTimeZone):
    host: str = "127.0.0.1"
    port: int = 8081
    operator_tokens: SecretList = Field(default_factory=list)
    instance_id: str = ""
    """Names this instance's reply topic (the pod name on Kubernetes); random when empty."""
    ledger_timeout_s: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _tokens(self) -> OperatorApiSettings:
        self.check_secrets("operator_tokens", self.operator_tokens)
        return self
