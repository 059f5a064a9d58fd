"""Request bodies of the operator API (validated from exactly-parsed JSON; never ``float``)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from shared.contracts.protection import ExclusionKind, LimitKind, LimitPeriod

UserId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
CurrencyCode = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z0-9]{3,8}$")
]
ShortText = Annotated[str, StringConstraints(max_length=500)]

_STRICT = ConfigDict(extra="forbid", frozen=True)


class CreateAccount(BaseModel):
    model_config = _STRICT

    user_id: UserId
    currency: CurrencyCode


class AccountChange(BaseModel):
    """Optional body of block and unblock."""

    model_config = _STRICT

    reason: ShortText | None = None
    requested_by: ShortText | None = None


class MoneyMovement(BaseModel):
    """A deposit or a withdrawal: a positive amount in the account's currency."""

    model_config = _STRICT

    amount: Decimal = Field(
        description='Decimal string (or JSON number) in major units, e.g. "25.00".'
    )
    reason: ShortText | None = None
    requested_by: ShortText | None = None


class LaunchGame(BaseModel):
    model_config = _STRICT

    user_id: UserId
    game: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    currency: CurrencyCode | None = Field(
        default=None,
        description="Needed only when the player holds accounts in several currencies.",
    )
    language: Annotated[str, StringConstraints(min_length=2, max_length=10)] = "en"
    username: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    avatar: Annotated[str, StringConstraints(max_length=1000)] | None = None
    expires_in_minutes: int = Field(default=60, ge=1, le=24 * 60)
    extra_data: ShortText | None = None


class GrantFreeBets(BaseModel):
    model_config = _STRICT

    user_id: UserId
    currency: CurrencyCode
    game: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    quantity: int = Field(ge=1, le=10_000)
    value: Decimal = Field(description="Value of each free bet, decimal string in major units.")
    expires_at: AwareDatetime
    bonus_code: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    max_multiplier: Decimal | None = Field(default=None, gt=1)


class FindingStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    IGNORED = "ignored"


class ChangeFindingStatus(BaseModel):
    model_config = _STRICT

    status: FindingStatus
    changed_by: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
    ]
    note: ShortText | None = None


class TimeWindow(BaseModel):
    """``since`` inclusive, ``until`` exclusive."""

    model_config = _STRICT

    since: datetime | None = None
    until: datetime | None = None


Who = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class SetLimit(BaseModel):
    """Set a player limit: lower or new at once, higher after the cooling-off period."""

    model_config = _STRICT

    limit: LimitKind
    period: LimitPeriod = Field(description="bet for max_bet; day, week or month for the others.")
    amount: Decimal = Field(description='Decimal string in major units, e.g. "100.00".')
    reason: Who
    requested_by: Who


class RemoveLimit(BaseModel):
    """Remove a player limit: it stays in force for the cooling-off period."""

    model_config = _STRICT

    limit: LimitKind
    period: LimitPeriod
    reason: Who
    requested_by: Who


class Exclude(BaseModel):
    """Self-exclude (until a date, or indefinitely without one) or time out (until a date)."""

    model_config = _STRICT

    kind: ExclusionKind = ExclusionKind.SELF_EXCLUSION
    until: AwareDatetime | None = Field(
        default=None, description="End of the exclusion; none: indefinite (self_exclusion only)."
    )
    reason: Who
    requested_by: Who
