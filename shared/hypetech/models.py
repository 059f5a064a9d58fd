"""Typed requests and responses of Hypetech's REST API.

Responses tolerate unknown fields (Hypetech adds fields between doc generations) and keep amounts
exact: bodies are parsed with ``shared.jsonwire.loads_exact``, so numbers reach these models as
``int`` or ``Decimal``. Pages of session transactions are validated from their bytes by pydantic
(``client.parse_transactions_page``) only when every number in them is one a binary float holds
exactly, so a ``float`` that reaches these models there is the number as sent. Ids that Hypetech
sends as numbers become their exact decimal text.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field

_RESPONSE = ConfigDict(extra="allow", populate_by_name=True, frozen=True)


def exact_text(value: Any) -> Any:
    """An id Hypetech sent as a number becomes its exact decimal text (``7.50`` and ``7.5`` alike
    ``"7.5"``); anything else is kept."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):  # read by pydantic from JSON: the number's own shortest text
        value = Decimal(repr(value))
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return value


IdText = Annotated[str, BeforeValidator(exact_text)]


class CreateSessionRequest(BaseModel):
    """Body of ``POST /games/request-access`` (V4 Create Session, V1-V3 Get Game URL)."""

    model_config = ConfigDict(frozen=True)

    game: str
    user_id: str
    username: str
    currency: str | None = None
    balance: Decimal | None = None
    avatar_url: str | None = None
    lang: str | None = None
    extra_data: str | None = None
    demo: bool | None = None
    demo_session: bool | None = None
    expires_in_minutes: int | None = None

    def to_body(self) -> dict[str, Any]:
        """The JSON body, without the fields left unset; amounts stay ``Decimal``."""
        return {key: value for key, value in self.__dict__.items() if value is not None}


class CreateSessionResponse(BaseModel):
    model_config = _RESPONSE

    game_url: str

    @property
    def session_token(self) -> str:
        """The last path segment of ``game_url``: the token that arrives in webhooks."""
        path = urlsplit(self.game_url).path.rstrip("/")
        return path.rsplit("/", 1)[-1]


class Game(BaseModel):
    model_config = _RESPONSE

    slug: str = Field(validation_alias=AliasChoices("slug", "game_slug", "game"))
    name: str | None = None


class Pagination(BaseModel):
    model_config = _RESPONSE

    page_size: int = Field(alias="pageSize")
    page_number: int = Field(alias="pageNumber")
    total_pages: int = Field(alias="totalPages")
    total_items: int = Field(alias="totalItems")


class SessionTransaction(BaseModel):
    """One row of ``GET /sessions/{sessionId}/transactions``."""

    model_config = _RESPONSE

    transaction_id: IdText = Field(alias="transactionId")
    round_id: IdText | None = Field(default=None, alias="roundId")
    transaction_type: str = Field(alias="transactionType")
    requested_at: str | None = Field(default=None, alias="requestedAt")
    transaction_status: str = Field(alias="transactionStatus")
    amount: Decimal
    round_status: str | None = Field(default=None, alias="roundStatus")
    user_id: IdText | None = Field(default=None, alias="userId")
    currency: str | None = None
    linked_transaction_id: IdText | None = Field(default=None, alias="linkedTransactionId")

    @property
    def requested_at_datetime(self) -> datetime | None:
        """``requestedAt`` parsed (the docs' example has stray spaces); ``None`` if unreadable."""
        return parse_requested_at(self.requested_at)


def parse_requested_at(value: str | None) -> datetime | None:
    """A ``requestedAt`` text as a datetime (stray spaces dropped); ``None`` if unreadable."""
    if not value:
        return None
    text = value.replace(" ", "").replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


class TransactionsPage(BaseModel):
    model_config = _RESPONSE

    transactions: list[SessionTransaction]
    pagination: Pagination


class ActiveSession(BaseModel):
    """One row of Active Sessions (the docs' page is not public; this is the simulator's shape)."""

    model_config = _RESPONSE

    session_id: IdText = Field(alias="sessionId")
    user_id: IdText | None = Field(default=None, alias="userId")
    game: str | None = None
    currency: str | None = None
    created_at: str | None = Field(default=None, alias="createdAt")
    expires_at: str | None = Field(default=None, alias="expiresAt")


class ActiveSessionsPage(BaseModel):
    model_config = _RESPONSE

    sessions: list[ActiveSession]
    pagination: Pagination


class FreeBetRequest(BaseModel):
    """Body of ``POST /games/free-bets`` (Redeem Free Bet)."""

    model_config = ConfigDict(frozen=True)

    game_slug: str
    user_id: str
    quantity: int = Field(gt=0)
    value: Decimal = Field(gt=0)
    currency: str
    expires_at: datetime
    bonus_code: str | None = None
    max_multiplier: Decimal | None = None

    def to_body(self) -> dict[str, Any]:
        """The documented body: ``quantity`` as a string, ``expires_at`` as ISO 8601 with ``Z``."""
        body: dict[str, Any] = {
            "game_slug": self.game_slug,
            "user_id": self.user_id,
            "quantity": str(self.quantity),
            "value": self.value,
            "currency": self.currency,
            "expires_at": self.expires_at.isoformat().replace("+00:00", "Z"),
        }
        if self.bonus_code is not None:
            body["bonus_code"] = self.bonus_code
        if self.max_multiplier is not None:
            body["max_multiplier"] = self.max_multiplier
        return body


class FreeBetResponse(BaseModel):
    model_config = _RESPONSE

    free_bet: Any = None
