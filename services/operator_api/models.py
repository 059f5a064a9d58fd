"""Request bodies of the operator API (validated from exactly-parsed JSON; never ``float``).

Ids and currencies follow ``shared.identifiers`` (the rules the CLI and the ledger keep too);
amounts are checked as ASCII decimal text before pydantic's ``Decimal`` parsing sees them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from shared.contracts.protection import ExclusionKind, LimitKind, LimitPeriod
from shared.identifiers import Currency, UserId
from shared.money import AsciiDecimal

#: Free text holds no NUL (Postgres text cannot store it: 400, not a failed write); ids follow
#: ``shared.identifiers``, which refuses every control character.
NO_NUL = r"^[^\x00]*$"
#: ``NO_NUL``, and more than white space.
SOME_TEXT = r"^[^\x00]*[^\s\x00][^\x00]*$"


def text(*, min_length: int = 0, max_length: int, pattern: str = NO_NUL) -> StringConstraints:
    return StringConstraints(min_length=min_length, max_length=max_length, pattern=pattern)


ShortText = Annotated[str, text(max_length=500)]

_STRICT = ConfigDict(extra="forbid", frozen=True)


class CreateAccount(BaseModel):
    model_config = _STRICT

    user_id: UserId
    currency: Currency


class AccountChange(BaseModel):
    """Optional body of block and unblock."""

    model_config = _STRICT

    reason: ShortText | None = None
    requested_by: ShortText | None = None


class MoneyMovement(BaseModel):
    """A deposit or a withdrawal: a positive amount in the account's currency."""

    model_config = _STRICT

    amount: AsciiDecimal = Field(
        description='Decimal string (or JSON number) in major units, e.g. "25.00".'
    )
    reason: ShortText | None = None
    requested_by: ShortText | None = None


class LaunchGame(BaseModel):
    model_config = _STRICT

    user_id: UserId
    game: Annotated[str, text(min_length=1, max_length=100)]
    currency: Currency | None = Field(
        default=None,
        description="Needed only when the player holds accounts in several currencies.",
    )
    language: Annotated[str, text(min_length=2, max_length=10)] = "en"
    username: Annotated[str, text(min_length=1, max_length=100)]
    avatar: Annotated[str, text(max_length=1000)] | None = None
    expires_in_minutes: int = Field(default=60, ge=1, le=24 * 60)
    extra_data: ShortText | None = None


class GrantFreeBets(BaseModel):
    model_config = _STRICT

    user_id: UserId
    currency: Currency
    game: Annotated[str, text(min_length=1, max_length=100)]
    quantity: int = Field(ge=1, le=10_000)
    value: AsciiDecimal = Field(
        description="Value of each free bet, decimal string in major units."
    )
    expires_at: AwareDatetime
    bonus_code: Annotated[str, text(min_length=1, max_length=100)] | None = None
    max_multiplier: AsciiDecimal | None = Field(default=None, gt=1)


class FindingStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    IGNORED = "ignored"


class ChangeFindingStatus(BaseModel):
    model_config = _STRICT

    status: FindingStatus
    changed_by: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=SOME_TEXT),
    ]
    note: ShortText | None = None


class TimeWindow(BaseModel):
    """``since`` inclusive, ``until`` exclusive."""

    model_config = _STRICT

    since: datetime | None = None
    until: datetime | None = None


Who = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500, pattern=SOME_TEXT),
]


class SetLimit(BaseModel):
    """Set a player limit: lower or new at once, higher after the cooling-off period."""

    model_config = _STRICT

    limit: LimitKind
    period: LimitPeriod = Field(description="bet for max_bet; day, week or month for the others.")
    amount: AsciiDecimal = Field(description='Decimal string in major units, e.g. "100.00".')
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
