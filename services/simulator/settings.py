"""The simulator's settings: ``HYPELEDGER_SIMULATOR_`` environment variables or constructor args."""

from __future__ import annotations

from decimal import Decimal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.contracts.commands import Generation
from shared.logs import LogFormat
from shared.settings import Environment, HttpServerLimits


class SimulatorSettings(BaseSettings, HttpServerLimits):
    model_config = SettingsConfigDict(
        env_prefix="HYPELEDGER_SIMULATOR_", extra="ignore", frozen=True, populate_by_name=True
    )

    environment: Environment = Field(
        default=Environment.DEVELOPMENT,
        validation_alias=AliasChoices(
            "environment", "HYPELEDGER_SIMULATOR_ENVIRONMENT", "HYPELEDGER_ENVIRONMENT"
        ),
    )
    """``development`` or ``test``: the simulator refuses to start in ``production``.

    Read from ``HYPELEDGER_SIMULATOR_ENVIRONMENT``, else from ``HYPELEDGER_ENVIRONMENT`` (the
    image sets ``production``), so a simulator deployed by mistake beside the real services stops
    at start instead of handing out its tokens and fault switches.
    """
    host: str = "127.0.0.1"
    """Listen address: loopback unless a deployment names another on purpose."""
    port: int = 8090
    log_level: str = "INFO"
    log_format: LogFormat = "auto"
    public_base_url: str = ""
    """Base of the game URLs handed out; empty means ``http://{host}:{port}``."""
    api_token: SecretStr = SecretStr("simulator-token")
    """The Bearer token operators must send to the REST API."""
    session_minutes: int = Field(default=60, ge=1)
    games: list[str] = Field(default_factory=lambda: ["aviador", "rocket", "aviator"])

    # -- webhooks (the operator's side) --
    webhook_base_url: str = "http://127.0.0.1:8080"
    webhook_api_key: SecretStr = SecretStr("simulator-webhook-key")
    """The operator's API key that signs ``Hype-Hash``."""
    generation: Generation = Generation.V4
    provider: str = "hypetech"
    path_bet: str = "/webhooks/hypetech/bet"
    path_win: str = "/webhooks/hypetech/win"
    path_rollback: str = "/webhooks/hypetech/rollback"
    path_balance: str = "/webhooks/hypetech/balance"
    sign_query_string: bool = True
    """V3 sends its fields in the query string too; sign the full URL requested, query included."""
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    webhook_max_attempts: int = Field(default=5, ge=1, le=20)
    webhook_backoff_s: float = Field(default=0.05, ge=0)
    concurrency: int = Field(default=32, ge=1, le=1024)

    # -- the game --
    seed: int | None = None
    """Seeds every random choice (players, faults); ``None`` draws one at start."""
    server_secret: str = ""
    """Last link of the seed chain; empty draws a random one."""
    chain_length: int = Field(default=10_000, ge=1)
    salt: str = "hypeledger-simulator"
    house_edge_bps: int = Field(default=100, ge=0, lt=10_000)
    betting_window_s: float = Field(default=0.2, ge=0)
    flight_s: float = Field(default=0.0, ge=0)
    rounds_per_second: float = Field(default=0.0, ge=0)
    """Upper bound on the round rate (0: as fast as the betting window allows)."""

    # -- faults, each a rate in [0, 1] --
    fault_duplicate: Decimal = Field(default=Decimal(0), ge=0, le=1)
    fault_rollback_before_bet: Decimal = Field(default=Decimal(0), ge=0, le=1)
    fault_lost_reply: Decimal = Field(default=Decimal(0), ge=0, le=1)
    fault_drift: Decimal = Field(default=Decimal(0), ge=0, le=1)
    fault_wrong_rollback_amount: Decimal = Field(default=Decimal(0), ge=0, le=1)

    @model_validator(mode="after")
    def _not_in_production(self) -> SimulatorSettings:
        if self.environment is Environment.PRODUCTION:
            raise ValueError(
                "the simulator is a test tool and does not run in production: set "
                "HYPELEDGER_SIMULATOR_ENVIRONMENT=development (or test) where it belongs"
            )
        return self

    @property
    def game_base_url(self) -> str:
        return (self.public_base_url or f"http://{self.host}:{self.port}").rstrip("/")
