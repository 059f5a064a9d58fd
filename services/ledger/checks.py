"""Checks shared by several rules: each returns what it checked or raises the refusal. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from services.ledger.model import Account, as_utc
from services.ledger.row import Row
from shared.contracts.commands import OperatorCommand, WebhookEnvelope
from shared.money import InvalidAmount, ParsedAmount, parse_minor


def account(row: Row) -> Account:
    """The command's account, in a known currency."""
    if row.currency not in row.policy.currencies:
        raise row.refuse("unknown-currency", f"{row.currency} is not a known currency")
    found = row.state.account(row.user_id, row.currency)
    if found is None:
        raise row.refuse("account-not-found", f"no {row.currency} account for user {row.user_id}")
    return found


def amount(row: Row, *, allow_zero: bool, missing_is_zero: bool = False) -> ParsedAmount:
    """The command's amount in minor units, ``>= 0`` (``> 0`` unless ``allow_zero``).

    Call it after ``account``: the currency is known by then.
    """
    parsed = _carried(row)
    if parsed is None:
        value: object = row.command.amount
        if value is None:
            if not missing_is_zero:
                raise row.refuse("invalid-amount", "amount is required")
            value = 0
        try:
            parsed = parse_minor(value, row.currency, row.policy.currencies)
        except InvalidAmount as exc:
            raise row.refuse("invalid-amount", str(exc)) from None
    if parsed.minor < 0 or (parsed.minor == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise row.refuse("invalid-amount", f"amount must be {bound}")
    return parsed


def differs_from(row: Row, stake: int) -> bool:
    """Whether the command names an amount other than ``stake`` (an unreadable one differs)."""
    parsed = _carried(row)
    if parsed is not None:
        return parsed.minor != stake
    if row.command.amount is None:
        return False
    try:
        return parse_minor(row.command.amount, row.currency, row.policy.currencies).minor != stake
    except InvalidAmount:
        return True


def _carried(row: Row) -> ParsedAmount | None:
    """The minor units the ingress parsed, when the envelope carries them and they are the same
    money as its decimal ``amount`` in this ledger's currency table; ``None`` otherwise (older
    envelopes and operator commands carry only the decimal, which is then parsed here)."""
    command = row.command
    if not isinstance(command, WebhookEnvelope):
        return None
    minor, decimal = command.amount_minor, command.amount
    if minor is None or decimal is None:
        return None
    exponent = row.policy.currencies.exponent(row.currency)
    if Decimal(minor).scaleb(-exponent) != decimal:
        return None
    return ParsedAmount(minor, command.amount_noise_rounded)


def within_bound(row: Row, balance: int, credit: int, bound: int) -> None:
    """Refuse a credit that would take the balance past ``bound`` (the database never has to be
    the one to overflow)."""
    if credit > 0 and balance + credit > bound:
        raise row.refuse(
            "balance-limit-exceeded",
            f"a credit of {row.fmt(credit)} would take the balance {row.fmt(balance)}"
            f" past its bound {row.fmt(bound)}",
            balance=row.fmt(balance),
        )


def session(row: Row, env: WebhookEnvelope) -> None:
    """The bet's session exists, is the player's in this currency and has not expired."""
    token = env.session_token
    found = None if token is None else row.state.session(token)
    if found is None or found.user_id != env.user_id or found.currency != env.currency:
        raise row.refuse("invalid-session", "the session token is unknown or not this player's")
    if found.expires_at is not None and as_utc(found.expires_at) <= as_utc(env.received_at):
        raise row.refuse("invalid-session", "the session has expired")


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asked for a change of a player's protection, and why."""

    by: str
    reason: str


def requester(row: Row, cmd: OperatorCommand) -> Requester:
    """A protection change is kept with who asked and why: both are required."""
    if not cmd.requested_by:
        raise row.refuse("invalid-field", "requested_by is required", field="requested_by")
    if not cmd.reason:
        raise row.refuse("invalid-field", "reason is required", field="reason")
    return Requester(cmd.requested_by, cmd.reason)
