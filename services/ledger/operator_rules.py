"""The decision table's operator rows: accounts, deposits and withdrawals, settling lost rounds,
and changes of a player's protection. Pure.

Each returns ``row.applied(...)`` or raises a refusal (``row.refuse``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.ledger import checks, protection
from services.ledger.model import (
    MAX_BALANCE_MINOR,
    OPERATOR_PROVIDER,
    Account,
    AccountStatus,
    AccountType,
    BetState,
    Decision,
    OpenAccount,
    ProtectionRecord,
    SetAccountStatus,
    as_utc,
    command_time,
)
from services.ledger.protection_checks import (
    TotalsAfter,
    period_totals,
    refuse_if_breached,
    refuse_if_excluded,
    refuse_past_ceiling,
    totals_after,
)
from services.ledger.row import Row
from shared.contracts.commands import OperatorCommand, OperatorKind
from shared.contracts.protection import ExclusionKind, ProtectionEventKind, period_fits


def _account_body(row: Row, cmd: OperatorCommand, status: AccountStatus, old: int, new: int) -> str:
    return row.texts.command_body(
        cmd, status=status, new_balance=row.fmt(new), old_balance=row.fmt(old)
    )


def create_account(row: Row, cmd: OperatorCommand) -> Decision:
    if cmd.currency not in row.policy.currencies:
        raise row.refuse("unknown-currency", f"{cmd.currency} is not a known currency")
    if row.state.account(cmd.user_id, cmd.currency) is not None:
        raise row.refuse(
            "account-exists", f"user {cmd.user_id} already has a {cmd.currency} account"
        )
    return row.applied(
        _account_body(row, cmd, AccountStatus.ACTIVE, 0, 0),
        OpenAccount(Account(cmd.user_id, cmd.currency, AccountStatus.ACTIVE, 0)),
        row.texts.transaction_event(old=0, new=0, amount=None),
    )


def set_status(row: Row, cmd: OperatorCommand) -> Decision:
    account = checks.account(row)
    status = AccountStatus.BLOCKED if cmd.kind is OperatorKind.BLOCK else AccountStatus.ACTIVE
    return row.applied(
        _account_body(row, cmd, status, account.balance, account.balance),
        SetAccountStatus(status),
        row.texts.transaction_event(old=account.balance, new=account.balance, amount=None),
    )


def deposit_or_withdraw(row: Row, cmd: OperatorCommand) -> Decision:
    account = checks.account(row)
    amount = checks.amount(row, allow_zero=False).minor
    delta = amount if cmd.kind is OperatorKind.DEPOSIT else -amount
    balance = account.balance
    checks.within_bound(row, balance, delta, MAX_BALANCE_MINOR)
    after = TotalsAfter()
    if cmd.kind is OperatorKind.DEPOSIT:
        refuse_if_excluded(row, amount)
        totals = period_totals(row)
        refuse_if_breached(row, protection.DEPOSIT_KINDS, amount, totals)
        refuse_past_ceiling(row, totals, deposits=amount)
        after = totals_after(row, totals, deposits=amount)
    if balance + delta < 0:
        raise row.refuse(
            "insufficient-funds",
            f"balance {row.fmt(balance)} is below the withdrawal {row.fmt(amount)}",
            balance=row.fmt(balance),
        )
    return row.applied(
        _account_body(row, cmd, account.status, balance, balance + delta),
        row.movement(AccountType.OPERATOR_CASH, OPERATOR_PROVIDER, delta),
        *after.totals,
        row.texts.transaction_event(old=balance, new=balance + delta, amount=amount),
        *after.alerts,
    )


def settle_lost(row: Row, cmd: OperatorCommand) -> Decision:
    account = checks.account(row)
    if cmd.round_id is None:
        raise row.refuse("invalid-field", "round_id is required", field="round_id")
    settled = [
        bet
        for provider, user_id, round_id in list(row.state.round_bets)
        if user_id == cmd.user_id and round_id == cmd.round_id
        for bet in row.state.bets_of_round(provider, user_id, round_id)
        if bet.state is BetState.OPEN and bet.currency == cmd.currency
    ]
    balance = account.balance
    return row.settled_lost(
        _account_body(row, cmd, account.status, balance, balance), settled, balance, cmd.round_id
    )


def _record(
    row: Row, cmd: OperatorCommand, asked: checks.Requester, effective_at: datetime, **what: Any
) -> ProtectionRecord:
    """The change kept for good: who asked, why, when, and ``what`` changed."""
    return ProtectionRecord(
        time_zone=row.policy.time_zone,
        change=cmd.kind.value,
        idempotency_key=cmd.idempotency_key,
        requested_at=command_time(cmd),
        requested_by=asked.by,
        reason=asked.reason,
        effective_at=effective_at,
        **what,
    )


def change_limit(row: Row, cmd: OperatorCommand) -> Decision:
    checks.account(row)
    asked = checks.requester(row, cmd)
    kind, period = cmd.limit, cmd.period
    if kind is None:
        raise row.refuse("invalid-field", "limit is required", field="limit")
    if period is None or not period_fits(kind, period):
        raise row.refuse(
            "invalid-field",
            "period must be bet for max_bet, and day, week or month for the others",
            field="period",
        )
    requested: int | None = None
    if cmd.kind is OperatorKind.SET_LIMIT:
        requested = checks.amount(row, allow_zero=False).minor
    at = command_time(cmd)
    current = row.state.limits_of(row.user_id, row.currency).get((kind, period))
    change = protection.change_limit(
        current, kind, period, requested, at=at, cooling_off=row.policy.limit_cooling_off
    )
    in_force = None if change.in_force is None else row.fmt(change.in_force)
    wanted = None if requested is None else row.fmt(requested)
    return row.applied(
        row.texts.command_body(
            cmd,
            limit=kind.value,
            period=period.value,
            limit_amount=in_force,
            requested=wanted,
            effective_at=change.effective_at,
        ),
        *(() if change.limit is None else (change.limit,)),
        _record(
            row, cmd, asked, change.effective_at, limit_kind=kind, period=period, amount=requested
        ),
        row.texts.protection_event(
            "limit",
            ProtectionEventKind.LIMIT_CHANGED,
            limit=kind.value,
            period=period.value,
            limit_amount=wanted,
            effective_at=change.effective_at,
            requested_by=asked.by,
            reason=asked.reason,
        ),
    )


def exclude(row: Row, cmd: OperatorCommand) -> Decision:
    checks.account(row)
    asked = checks.requester(row, cmd)
    at = command_time(cmd)
    until = None if cmd.until is None else as_utc(cmd.until)
    kind = (
        ExclusionKind.TIME_OUT
        if cmd.kind is OperatorKind.TIME_OUT
        else ExclusionKind.SELF_EXCLUSION
    )
    if kind is ExclusionKind.TIME_OUT and until is None:
        raise row.refuse("invalid-field", "a time-out needs an end (until)", field="until")
    if until is not None and until <= at:
        raise row.refuse("invalid-field", "until must be later than now", field="until")
    current = row.state.exclusion(row.user_id, row.currency)
    exclusion = protection.extend_exclusion(current, kind, until, at)
    return row.applied(
        row.texts.command_body(
            cmd,
            exclusion=exclusion.kind.value,
            since=exclusion.since,
            until=exclusion.until,
        ),
        *(() if exclusion == current else (exclusion,)),
        _record(row, cmd, asked, at, exclusion=kind, until=until),
        row.texts.protection_event(
            "exclusion",
            ProtectionEventKind.EXCLUDED,
            exclusion=exclusion.kind.value,
            effective_at=exclusion.since,
            until=exclusion.until,
            requested_by=asked.by,
            reason=asked.reason,
        ),
    )


#: The rule of each operator command kind.
OPERATOR_RULES: dict[OperatorKind, Callable[[Row, OperatorCommand], Decision]] = {
    OperatorKind.CREATE_ACCOUNT: create_account,
    OperatorKind.BLOCK: set_status,
    OperatorKind.UNBLOCK: set_status,
    OperatorKind.DEPOSIT: deposit_or_withdraw,
    OperatorKind.WITHDRAW: deposit_or_withdraw,
    OperatorKind.SETTLE_LOST: settle_lost,
    OperatorKind.SET_LIMIT: change_limit,
    OperatorKind.REMOVE_LIMIT: change_limit,
    OperatorKind.EXCLUDE: exclude,
    OperatorKind.TIME_OUT: exclude,
}
