"""The Hypetech REST client's settings, shared by the services that call Hypetech (the operator
API and the reconciler): ``HYPELEDGER_HYPETECH_*`` environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from shared.settings import MIN_PROVIDER_SECRET_LENGTH, CommonSettings


class HypetechClientSettings(CommonSettings):
    hypetech_base_url: str = "https://player.api.hypetech.games"
    hypetech_api_token: SecretStr | None = None
    hypetech_timeout_s: float = Field(default=5.0, gt=0)
    hypetech_max_retries: int = Field(default=3, ge=0, le=10)

    @model_validator(mode="after")
    def _secrets(self) -> HypetechClientSettings:
        self.check_secret("hypetech_api_token", self.hypetech_api_token, MIN_PROVIDER_SECRET_LENGTH)
        return self
