"""The ledger's decision core: stored state + one command -> one ``Decision``.

Pure: every row of the decision table in ``docs/wallet-semantics.md`` is a function of the stored state
(read through ``BatchState``), the command and the ``Policy``. No clock (a webhook's time is its
``received_at``), no random ids (``operator_tx_id`` is derived from the key), no I/O.

Idempotency comes first: a key that already has a decision gets that decision's stored response
byte for byte when the payload is the same, and 409 ``duplicate-transaction-mismatch`` when it is
not; either way nothing moves. Then each kind has its own function, one branch per table row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import orjson

from services.ledger import protection
from services.ledger.model import (
    BALANCE_CEILING,
    EVENT_NAMESPACE,
    MAX_BALANCE_MINOR,
    OPERATOR_PROVIDER,
    Account,
    AccountStatus,
    AccountType,
    Bet,
    BetState,
    Decision,
    Grant,
    Key,
    Movement,
    OutboxEvent,
    Outcome,
    Policy,
    Posting,
    ProtectionRecord,
    RoundLock,
    Tombstone,
    event_id_for,
    uuid5_text,
)
from services.ledger.state import BatchState
from shared.contracts.commands import (
    Mode,
    OperatorCommand,
    OperatorKind,
    WebhookEnvelope,
    WebhookKind,
)
from shared.contracts.events import transaction_event
from shared.contracts.problems import problem
from shared.contracts.protection import (
    CALENDAR_PERIODS,
    PROTECTION_EVENT_TYPE,
    ExclusionKind,
    LimitKind,
    LimitPeriod,
    ProtectionEventKind,
    period_fits,
)
from shared.currencies import CurrencyTable
from shared.money import MAX_MAJOR, InvalidAmount, format_minor, parse_minor

Command = WebhookEnvelope | OperatorCommand


def format_exponent(minor: int, exponent: int) -> str:
    """``shared.money.format_minor`` with the exponent already looked up (hot path)."""
    if exponent == 0:
        return str(minor)
    whole, fraction = divmod(abs(minor), 10**exponent)
    return f"{'-' if minor < 0 else ''}{whole}.{fraction:0{exponent}d}"


def minor_units(value: object, exponent: int) -> tuple[int, bool] | None:
    """The exact minor units of a ``Decimal`` that needs no rounding; ``None`` otherwise.

    A fast path in front of ``shared.money.parse_minor``, which handles every other case.
    """
    if type(value) is Decimal and value.is_finite() and abs(value) < MAX_MAJOR:
        exp = value.as_tuple().exponent
        if isinstance(exp, int) and exp >= -exponent:
            return int(value.scaleb(exponent)), False
    return None


def dumps_compact(value: Any) -> str:
    """Compact JSON, keys in insertion order, UTF-8 (the same text as ``shared.jsonwire``'s)."""
    return orjson.dumps(value).decode()


# Flags stored on a decision (and carried by its event) for the reconciler to raise as findings.
FLAG_WIN_ON_ROLLED_BACK_BET = "win_on_rolled_back_bet"
FLAG_ROLLBACK_OF_SETTLED_BET = "rollback_of_settled_bet"
FLAG_ROLLBACK_AMOUNT_DIFFERS = "rollback_amount_differs"
FLAG_WIN_WITHOUT_ROUND = "win_without_round"
FLAG_AMOUNT_NOISE_ROUNDED = "amount_noise_rounded"


def key_of(command: Command) -> Key | None:
    """The idempotency key, or ``None`` for balance reads and webhooks without a transaction id."""
    if isinstance(command, OperatorCommand):
        return Key(OPERATOR_PROVIDER, command.kind, command.idempotency_key)
    if command.kind is WebhookKind.BALANCE or command.provider_tx_id is None:
        return None
    return Key(command.provider, command.kind, command.provider_tx_id)


def fingerprint(command: Command) -> str:
    """A digest of ``fingerprint_fields()``: equal for a redelivery, different for a mismatch."""
    fields = [None if value is None else str(value) for value in command.fingerprint_fields()]
    return hashlib.sha256(dumps_compact(fields).encode()).hexdigest()


def decide(state: BatchState, command: Command, policy: Policy) -> Decision:
    key = key_of(command)
    if key is None:
        if isinstance(command, WebhookEnvelope) and command.kind is WebhookKind.BALANCE:
            return _balance(state, command, policy)
        return _invalid_field(command, "provider_tx_id")
    digest = fingerprint(command)
    stored = state.decision(key)
    if stored is not None:
        if stored.fingerprint == digest:
            return Decision(
                outcome=Outcome.REPLAYED,
                status=stored.status,
                body=stored.body,
                kind=key.kind,
                user_id=command.user_id,
                currency=command.currency,
                key=key,
                fingerprint=digest,
                operator_tx_id=stored.operator_tx_id,
            )
        return _mismatch(command, key, digest)
    if key in state.expired:
        return _expired(command, key, digest)
    ctx = _Ctx(state, command, key, digest, policy)
    if isinstance(command, OperatorCommand):
        return _OPERATOR[command.kind](ctx, command)
    return _WEBHOOK[command.kind](ctx, command)


class _Ctx:
    """What every row needs: the key, its derived ids, and builders for the two kinds of answer."""

    __slots__ = (
        "_texts",
        "command",
        "currencies",
        "currency",
        "fingerprint",
        "key",
        "operator_tx_id",
        "policy",
        "state",
        "user_id",
    )

    def __init__(
        self, state: BatchState, command: Command, key: Key, digest: str, policy: Policy
    ) -> None:
        self.state = state
        self.command = command
        self.key = key
        self.fingerprint = digest
        self.policy = policy
        self.currencies: CurrencyTable = policy.currencies
        self.operator_tx_id = key.operator_tx_id()
        self.user_id: str = command.user_id
        self.currency: str = command.currency
        self._texts: dict[int, str] = {}

    def fmt(self, minor: int) -> str:
        """``minor`` in the command's currency as a decimal string (each value formatted once:
        the answer and the event carry the same balances)."""
        text = self._texts.get(minor)
        if text is None:
            text = format_exponent(minor, self.currencies.exponent(self.currency))
            self._texts[minor] = text
        return text

    def reject(
        self,
        slug: str,
        detail: str,
        *,
        status: int | None = None,
        flags: tuple[str, ...] = (),
        **extra: Any,
    ) -> Decision:
        body = problem(
            slug,
            detail,
            instance=f"urn:hypeledger:decision:{self.operator_tx_id}",
            status=status,
            provider_tx_id=self.key.provider_tx_id,
            **extra,
        )
        return Decision(
            outcome=Outcome.REJECTED,
            status=int(body["status"]),
            body=dumps_compact(body),
            kind=self.key.kind,
            user_id=self.user_id,
            currency=self.currency,
            key=self.key,
            fingerprint=self.fingerprint,
            operator_tx_id=self.operator_tx_id,
            flags=flags,
            occurred_at=_command_time(self.command),
        )

    def money_body(self, old: int, new: int) -> str:
        return dumps_compact(
            {
                "operator_tx_id": self.operator_tx_id,
                "new_balance": self.fmt(new),
                "old_balance": self.fmt(old),
                "user_id": self.user_id,
                "currency": self.currency,
                "provider": self.key.provider,
                "provider_tx_id": self.key.provider_tx_id,
            }
        )

    def event(
        self,
        *,
        old: int,
        new: int,
        amount: int | None,
        round_id: str | None = None,
        mode: str | None = None,
        bet_state: BetState | None = None,
        flags: tuple[str, ...] = (),
    ) -> OutboxEvent:
        occurred_at = (
            self.command.received_at
            if isinstance(self.command, WebhookEnvelope)
            else self.command.requested_at
        )
        event_id = event_id_for(self.operator_tx_id)
        payload = transaction_event(
            event_id=event_id,
            kind=self.key.kind,
            provider=self.key.provider,
            provider_tx_id=self.key.provider_tx_id,
            operator_tx_id=self.operator_tx_id,
            user_id=self.user_id,
            currency=self.currency,
            amount=None if amount is None else self.fmt(amount),
            old_balance=self.fmt(old),
            new_balance=self.fmt(new),
            round_id=round_id,
            mode=mode,
            bet_state=bet_state,
            flags=list(flags),
            occurred_at=occurred_at,
        )
        return OutboxEvent(event_id=event_id, key=self.user_id, payload=dumps_compact(payload))

    def applied(self, body: str, **changes: Any) -> Decision:
        return Decision(
            outcome=Outcome.APPLIED,
            status=200,
            body=body,
            kind=self.key.kind,
            user_id=self.user_id,
            currency=self.currency,
            key=self.key,
            fingerprint=self.fingerprint,
            operator_tx_id=self.operator_tx_id,
            occurred_at=_command_time(self.command),
            **changes,
        )

    def movement(
        self, counterparty: AccountType, counterparty_ref: str, player_delta: int
    ) -> Movement:
        round_id = self.command.round_id
        return Movement(
            kind=self.key.kind,
            provider=self.key.provider,
            provider_tx_id=self.key.provider_tx_id,
            user_id=self.user_id,
            currency=self.currency,
            round_id=round_id,
            postings=(
                Posting(AccountType.PLAYER, self.user_id, self.currency, player_delta),
                Posting(counterparty, counterparty_ref, self.currency, -player_delta),
            ),
            session_token=(
                self.command.session_token if isinstance(self.command, WebhookEnvelope) else None
            ),
        )


def unprocessable(command: Command, detail: str, policy: Policy) -> Decision | None:
    """The stored answer (500 ``unprocessable-command``) of a command the database refused on
    its own; ``None`` for a command without a key (nothing of it could be stored)."""
    key = key_of(command)
    if key is None:
        return None
    return _Ctx(BatchState(), command, key, fingerprint(command), policy).reject(
        "unprocessable-command", detail
    )


# -- answers that are never stored ------------------------------------------------------------


def _mismatch(command: Command, key: Key, digest: str) -> Decision:
    return _unstored(
        command,
        key,
        digest,
        Outcome.MISMATCH,
        slug="duplicate-transaction-mismatch",
        detail=f"{key.kind} {key.provider_tx_id} was already decided with a different payload",
    )


def _expired(command: Command, key: Key, digest: str) -> Decision:
    return _unstored(
        command,
        key,
        digest,
        Outcome.EXPIRED,
        slug="decision-expired",
        detail=f"{key.kind} {key.provider_tx_id} was applied longer ago than the retention period;"
        " its stored answer has expired and it is not applied again",
    )


def _unstored(
    command: Command, key: Key, digest: str, outcome: Outcome, *, slug: str, detail: str
) -> Decision:
    """A keyed refusal that is answered and never stored (the key keeps what it has)."""
    body = problem(
        slug,
        detail,
        instance=f"urn:hypeledger:decision:{key.operator_tx_id()}",
        provider_tx_id=key.provider_tx_id,
    )
    return Decision(
        outcome=outcome,
        status=int(body["status"]),
        body=dumps_compact(body),
        kind=key.kind,
        user_id=command.user_id,
        currency=command.currency,
        key=key,
        fingerprint=digest,
    )


def _invalid_field(command: Command, field_name: str) -> Decision:
    body = problem("invalid-field", f"{field_name} is required", field=field_name)
    return Decision(
        outcome=Outcome.INVALID,
        status=int(body["status"]),
        body=dumps_compact(body),
        kind=command.kind,
        user_id=command.user_id,
        currency=command.currency,
    )


def _balance(state: BatchState, env: WebhookEnvelope, policy: Policy) -> Decision:
    account = state.account(env.user_id, env.currency)
    if account is None:
        body = problem("account-not-found", f"no {env.currency} account for user {env.user_id}")
        return Decision(
            outcome=Outcome.READ,
            status=int(body["status"]),
            body=dumps_compact(body),
            kind=env.kind,
            user_id=env.user_id,
            currency=env.currency,
        )
    balance = format_minor(account.balance, env.currency, policy.currencies)
    body_ok = {
        "user_id": env.user_id,
        "currency": env.currency,
        "balance": balance,
        "hypetech_session_token": env.session_token,
        "old_balance": balance,
        "new_balance": balance,
    }
    return Decision(
        outcome=Outcome.READ,
        status=200,
        body=dumps_compact(body_ok),
        kind=env.kind,
        user_id=env.user_id,
        currency=env.currency,
    )


# -- shared checks ----------------------------------------------------------------------------


class _Refused(Exception):
    """Raised inside a row function to answer with a stored rejection."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.body)
        self.decision = decision


def _account_or_refuse(ctx: _Ctx) -> Account:
    if ctx.currency not in ctx.currencies:
        raise _Refused(ctx.reject("unknown-currency", f"{ctx.currency} is not a known currency"))
    account = ctx.state.account(ctx.user_id, ctx.currency)
    if account is None:
        raise _Refused(
            ctx.reject("account-not-found", f"no {ctx.currency} account for user {ctx.user_id}")
        )
    return account


def _amount_or_refuse(ctx: _Ctx, value: object, *, allow_zero: bool) -> tuple[int, bool]:
    """The amount in minor units and whether float noise was rounded away."""
    if value is None:
        raise _Refused(ctx.reject("invalid-amount", "amount is required"))
    fast = minor_units(value, ctx.currencies.exponent(ctx.currency))
    if fast is not None:
        minor, noise = fast
    else:
        try:
            parsed = parse_minor(value, ctx.currency, ctx.currencies)
        except InvalidAmount as exc:
            raise _Refused(ctx.reject("invalid-amount", str(exc))) from None
        minor, noise = parsed.minor, parsed.noise_rounded
    if minor < 0 or (minor == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise _Refused(ctx.reject("invalid-amount", f"amount must be {bound}"))
    return minor, noise


def _within_bound_or_refuse(ctx: _Ctx, balance: int, credit: int, bound: int) -> None:
    """Refuse a credit that would take the balance past ``bound`` (the database never has to be
    the one to overflow)."""
    if credit > 0 and balance + credit > bound:
        raise _Refused(
            ctx.reject(
                "balance-limit-exceeded",
                f"a credit of {ctx.fmt(credit)} would take the balance {ctx.fmt(balance)}"
                f" past its bound {ctx.fmt(bound)}",
                balance=ctx.fmt(balance),
            )
        )


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


_C = TypeVar("_C", WebhookEnvelope, OperatorCommand)


def _refusing(row: Callable[[_Ctx, _C], Decision]) -> Callable[[_Ctx, _C], Decision]:
    """Turn a ``_Refused`` raised by a row function into its decision."""

    def run(ctx: _Ctx, command: _C) -> Decision:
        try:
            return row(ctx, command)
        except _Refused as refused:
            return refused.decision

    return run


# -- webhooks ---------------------------------------------------------------------------------


@_refusing
def _bet(ctx: _Ctx, env: WebhookEnvelope) -> Decision:
    account = _account_or_refuse(ctx)
    if account.status is AccountStatus.BLOCKED:
        return ctx.reject("player-blocked", f"user {ctx.user_id} is blocked")
    _refuse_if_excluded(ctx)
    if ctx.policy.session_check:
        _check_session(ctx, env)
    free = env.mode is Mode.FREE
    amount, noise = _amount_or_refuse(
        ctx, 0 if free and env.amount is None else env.amount, allow_zero=free
    )
    flags = (FLAG_AMOUNT_NOISE_ROUNDED,) if noise else ()
    if ctx.state.tombstone(ctx.key.provider, ctx.key.provider_tx_id) is not None:
        return ctx.reject(
            "transaction-rolled-back", f"bet {ctx.key.provider_tx_id} was already rolled back"
        )
    grant_id: int | None = None
    balance = account.balance
    totals: tuple[protection.Totals, ...] = ()
    alerts: tuple[OutboxEvent, ...] = ()
    if free:
        grant = _free_bet_grant(ctx, env)
        grant_id = None if grant is None else grant.grant_id
        delta = 0
    else:
        period_totals = _period_totals(ctx)
        _refuse_if_breached(ctx, protection.STAKE_KINDS, amount, period_totals)
        _refuse_past_ceiling(ctx, period_totals, wagers=amount)
        totals, alerts = _totals_after(ctx, period_totals, wagers=amount, losses=amount)
        if balance < amount:
            return ctx.reject(
                "insufficient-funds",
                f"balance {ctx.fmt(balance)} is below the stake {ctx.fmt(amount)}",
                status=ctx.policy.insufficient_funds_status,
                balance=ctx.fmt(balance),
            )
        delta = -amount
    bet = Bet(
        provider=ctx.key.provider,
        bet_tx_id=ctx.key.provider_tx_id,
        user_id=ctx.user_id,
        currency=ctx.currency,
        round_id=env.round_id,
        amount=amount,
        mode=env.mode,
        bonus_code=env.bonus_code,
        grant_id=grant_id,
        state=BetState.OPEN,
        operator_tx_id=ctx.operator_tx_id,
    )
    movement = (
        None if delta == 0 else ctx.movement(AccountType.PROVIDER_CLEARING, ctx.key.provider, delta)
    )
    new_balance = balance + delta
    return ctx.applied(
        ctx.money_body(balance, new_balance),
        flags=flags,
        movement=movement,
        balance_delta=delta,
        new_bet=bet,
        grant_deltas=() if grant_id is None else ((grant_id, -1),),
        totals=totals,
        events=(
            ctx.event(
                old=balance,
                new=new_balance,
                amount=amount,
                round_id=env.round_id,
                mode=env.mode,
                bet_state=BetState.OPEN,
                flags=flags,
            ),
            *alerts,
        ),
    )


def _check_session(ctx: _Ctx, env: WebhookEnvelope) -> None:
    token = env.session_token
    session = None if token is None else ctx.state.session(token)
    if session is None or session.user_id != env.user_id or session.currency != env.currency:
        raise _Refused(
            ctx.reject("invalid-session", "the session token is unknown or not this player's")
        )
    if session.expires_at is not None and _as_utc(session.expires_at) <= _as_utc(env.received_at):
        raise _Refused(ctx.reject("invalid-session", "the session has expired"))


def _free_bet_grant(ctx: _Ctx, env: WebhookEnvelope) -> Grant | None:
    """The grant a free bet consumes a unit of; ``None`` when the player has no grant at all
    (free bets granted at Hypetech without a recorded grant are accepted as they come).

    A player with grants in the currency must have a usable one matching the bet's bonus code:
    otherwise any code would spend free bets without ever consuming a unit.
    """
    grants = ctx.state.grants_of(ctx.user_id, ctx.currency)
    if not grants:
        return None
    matching = [
        grant
        for grant in grants
        if env.bonus_code is None or grant.bonus_code is None or grant.bonus_code == env.bonus_code
    ]
    now = _as_utc(env.received_at)
    usable = [
        grant
        for grant in matching
        if grant.remaining > 0 and (grant.expires_at is None or _as_utc(grant.expires_at) > now)
    ]
    if not usable:
        raise _Refused(ctx.reject("no-free-bets-left", f"user {ctx.user_id} has no free bets left"))
    return usable[0]


@_refusing
def _win(ctx: _Ctx, env: WebhookEnvelope) -> Decision:
    account = _account_or_refuse(ctx)
    amount, noise = _amount_or_refuse(ctx, env.amount, allow_zero=True)
    flags: tuple[str, ...] = (FLAG_AMOUNT_NOISE_ROUNDED,) if noise else ()
    provider = ctx.key.provider
    round_lock: RoundLock | None = None
    if env.linked_tx_id is not None:
        bet = ctx.state.bet(provider, env.linked_tx_id)
        if bet is None or bet.user_id != ctx.user_id or bet.currency != ctx.currency:
            return ctx.reject("bet-not-found", f"no bet {env.linked_tx_id} of user {ctx.user_id}")
        if bet.state is BetState.ROLLED_BACK:
            return ctx.reject(
                "bet-rolled-back",
                f"bet {bet.bet_tx_id} was rolled back",
                flags=(FLAG_WIN_ON_ROLLED_BACK_BET,),
            )
        if bet.state is not BetState.OPEN:
            return ctx.reject(
                "bet-already-settled", f"bet {bet.bet_tx_id} is already {bet.state.value}"
            )
        settled = [bet]
        free = bet.mode == Mode.FREE
    else:
        bets = (
            []
            if env.round_id is None
            else ctx.state.bets_of_round(provider, ctx.user_id, env.round_id)
        )
        if not bets:
            if ctx.policy.win_without_round != "accept_and_flag":
                return ctx.reject(
                    "round-not-found", f"user {ctx.user_id} has no bet in round {env.round_id}"
                )
            flags = (*flags, FLAG_WIN_WITHOUT_ROUND)
            settled = []
            free = env.mode is Mode.FREE
        else:
            live = [bet for bet in bets if bet.state is not BetState.ROLLED_BACK]
            if not live:
                return ctx.reject(
                    "bet-rolled-back",
                    f"every bet of round {env.round_id} was rolled back",
                    flags=(FLAG_WIN_ON_ROLLED_BACK_BET,),
                )
            settled = [bet for bet in live if bet.state is BetState.OPEN]
            free = all(bet.mode == Mode.FREE for bet in live)
            assert env.round_id is not None  # noqa: S101 - bets were found by it
            if not ctx.state.round_locked(provider, ctx.user_id, env.round_id):
                round_lock = RoundLock(provider, ctx.user_id, env.round_id, ctx.operator_tx_id)
    free = free or env.mode is Mode.FREE
    counterparty = AccountType.BONUS if free else AccountType.PROVIDER_CLEARING
    movement = None if amount == 0 else ctx.movement(counterparty, provider, amount)
    balance = account.balance
    _within_bound_or_refuse(ctx, balance, amount, MAX_BALANCE_MINOR)
    totals: tuple[protection.Totals, ...] = ()
    if amount and not free:  # a win takes back from the period's net loss
        totals, _ = _totals_after(ctx, _period_totals(ctx), losses=-amount)
    return ctx.applied(
        ctx.money_body(balance, balance + amount),
        flags=flags,
        movement=movement,
        balance_delta=amount,
        bet_states=tuple((bet.provider, bet.bet_tx_id, BetState.WON) for bet in settled),
        round_lock=round_lock,
        totals=totals,
        events=(
            ctx.event(
                old=balance,
                new=balance + amount,
                amount=amount,
                round_id=env.round_id,
                mode=env.mode,
                bet_state=BetState.WON if settled else None,
                flags=flags,
            ),
        ),
    )


@_refusing
def _lose(ctx: _Ctx, env: WebhookEnvelope) -> Decision:
    account = _account_or_refuse(ctx)
    provider = ctx.key.provider
    if env.linked_tx_id is not None:
        linked = ctx.state.bet(provider, env.linked_tx_id)
        bets = [] if linked is None or linked.user_id != ctx.user_id else [linked]
    elif env.round_id is not None:
        bets = ctx.state.bets_of_round(provider, ctx.user_id, env.round_id)
    else:
        bets = []
    settled = [bet for bet in bets if bet.state is BetState.OPEN]
    balance = account.balance
    return ctx.applied(
        ctx.money_body(balance, balance),
        bet_states=tuple((bet.provider, bet.bet_tx_id, BetState.LOST) for bet in settled),
        events=(
            ctx.event(
                old=balance,
                new=balance,
                amount=None,
                round_id=env.round_id,
                mode=env.mode,
                bet_state=BetState.LOST if settled else None,
            ),
        ),
    )


@_refusing
def _rollback(ctx: _Ctx, env: WebhookEnvelope) -> Decision:
    account = _account_or_refuse(ctx)
    provider = ctx.key.provider
    target = env.rollback_target
    assert target is not None  # noqa: S101 - the key has a provider_tx_id, the last fallback
    balance = account.balance
    bet = ctx.state.bet(provider, target)
    if bet is not None and (bet.user_id != ctx.user_id or bet.currency != ctx.currency):
        return ctx.reject("bet-not-found", f"bet {target} is not a bet of user {ctx.user_id}")
    if bet is None:
        tombstone = None
        if ctx.state.tombstone(provider, target) is None:
            tombstone = Tombstone(
                provider, target, ctx.key.provider_tx_id, ctx.user_id, ctx.currency
            )
        if ctx.policy.rollback_unknown_status != 200:
            decision = ctx.reject(
                "bet-not-found",
                f"no bet {target}; a tombstone refuses it if it arrives",
                status=ctx.policy.rollback_unknown_status,
            )
            return replace(decision, tombstone=tombstone)
        return ctx.applied(
            ctx.money_body(balance, balance),
            tombstone=tombstone,
            events=(
                ctx.event(
                    old=balance,
                    new=balance,
                    amount=None,
                    round_id=env.round_id,
                    mode=env.mode,
                ),
            ),
        )
    if bet.state is BetState.ROLLED_BACK:
        return ctx.applied(
            ctx.money_body(balance, balance),
            events=(
                ctx.event(
                    old=balance,
                    new=balance,
                    amount=None,
                    round_id=bet.round_id,
                    mode=bet.mode,
                    bet_state=bet.state,
                ),
            ),
        )
    locked = bet.round_id is not None and ctx.state.round_locked(
        provider, ctx.user_id, bet.round_id
    )
    if bet.state is BetState.WON or locked:
        return ctx.reject(
            "bet-already-settled",
            f"bet {target} is already settled by a win",
            flags=(FLAG_ROLLBACK_OF_SETTLED_BET,),
        )
    flags: tuple[str, ...] = ()
    if env.amount is not None and _differs(ctx, env.amount, bet.amount):
        flags = (FLAG_ROLLBACK_AMOUNT_DIFFERS,)
    free = bet.mode == Mode.FREE
    refund = 0 if free else bet.amount
    _within_bound_or_refuse(ctx, balance, refund, BALANCE_CEILING)
    movement = (
        None if refund == 0 else ctx.movement(AccountType.PROVIDER_CLEARING, provider, refund)
    )
    totals: tuple[protection.Totals, ...] = ()
    if refund:  # a refunded stake is no longer lost
        totals, _ = _totals_after(ctx, _period_totals(ctx), losses=-refund)
    return ctx.applied(
        ctx.money_body(balance, balance + refund),
        flags=flags,
        movement=movement,
        balance_delta=refund,
        totals=totals,
        bet_states=((bet.provider, bet.bet_tx_id, BetState.ROLLED_BACK),),
        grant_deltas=((bet.grant_id, 1),) if bet.grant_id is not None else (),
        events=(
            ctx.event(
                old=balance,
                new=balance + refund,
                amount=refund,
                round_id=bet.round_id,
                mode=bet.mode,
                bet_state=BetState.ROLLED_BACK,
                flags=flags,
            ),
        ),
    )


def _differs(ctx: _Ctx, value: object, stake: int) -> bool:
    try:
        return parse_minor(value, ctx.currency, ctx.currencies).minor != stake
    except InvalidAmount:
        return True


def _unsupported_webhook(ctx: _Ctx, env: WebhookEnvelope) -> Decision:  # pragma: no cover
    raise AssertionError(f"{env.kind} has no stored decision")


_WEBHOOK = {
    WebhookKind.BET: _bet,
    WebhookKind.WIN: _win,
    WebhookKind.LOSE: _lose,
    WebhookKind.ROLLBACK: _rollback,
    WebhookKind.BALANCE: _unsupported_webhook,
}


# -- operator commands ------------------------------------------------------------------------


def _operator_body(
    ctx: _Ctx, cmd: OperatorCommand, status: AccountStatus, old: int, new: int
) -> str:
    return _command_body(
        ctx, cmd, status=status, new_balance=ctx.fmt(new), old_balance=ctx.fmt(old)
    )


def _create_account(ctx: _Ctx, cmd: OperatorCommand) -> Decision:
    if cmd.currency not in ctx.currencies:
        return ctx.reject("unknown-currency", f"{cmd.currency} is not a known currency")
    if ctx.state.account(cmd.user_id, cmd.currency) is not None:
        return ctx.reject(
            "account-exists", f"user {cmd.user_id} already has a {cmd.currency} account"
        )
    account = Account(cmd.user_id, cmd.currency, AccountStatus.ACTIVE, 0)
    return ctx.applied(
        _operator_body(ctx, cmd, AccountStatus.ACTIVE, 0, 0),
        new_account=account,
        events=(ctx.event(old=0, new=0, amount=None),),
    )


@_refusing
def _set_status(ctx: _Ctx, cmd: OperatorCommand) -> Decision:
    account = _account_or_refuse(ctx)
    status = AccountStatus.BLOCKED if cmd.kind is OperatorKind.BLOCK else AccountStatus.ACTIVE
    return ctx.applied(
        _operator_body(ctx, cmd, status, account.balance, account.balance),
        account_status=status,
        events=(ctx.event(old=account.balance, new=account.balance, amount=None),),
    )


@_refusing
def _deposit_or_withdraw(ctx: _Ctx, cmd: OperatorCommand) -> Decision:
    account = _account_or_refuse(ctx)
    amount, _ = _amount_or_refuse(ctx, cmd.amount, allow_zero=False)
    delta = amount if cmd.kind is OperatorKind.DEPOSIT else -amount
    balance = account.balance
    _within_bound_or_refuse(ctx, balance, delta, MAX_BALANCE_MINOR)
    totals: tuple[protection.Totals, ...] = ()
    alerts: tuple[OutboxEvent, ...] = ()
    if cmd.kind is OperatorKind.DEPOSIT:
        _refuse_if_excluded(ctx, amount)
        period_totals = _period_totals(ctx)
        _refuse_if_breached(ctx, protection.DEPOSIT_KINDS, amount, period_totals)
        _refuse_past_ceiling(ctx, period_totals, deposits=amount)
        totals, alerts = _totals_after(ctx, period_totals, deposits=amount)
    if balance + delta < 0:
        return ctx.reject(
            "insufficient-funds",
            f"balance {ctx.fmt(balance)} is below the withdrawal {ctx.fmt(amount)}",
            balance=ctx.fmt(balance),
        )
    return ctx.applied(
        _operator_body(ctx, cmd, account.status, balance, balance + delta),
        movement=ctx.movement(AccountType.OPERATOR_CASH, OPERATOR_PROVIDER, delta),
        balance_delta=delta,
        totals=totals,
        events=(ctx.event(old=balance, new=balance + delta, amount=amount), *alerts),
    )


@_refusing
def _settle_lost(ctx: _Ctx, cmd: OperatorCommand) -> Decision:
    account = _account_or_refuse(ctx)
    if cmd.round_id is None:
        return ctx.reject("invalid-field", "round_id is required", field="round_id")
    settled = [
        bet
        for provider, user_id, round_id in list(ctx.state.round_bets)
        if user_id == cmd.user_id and round_id == cmd.round_id
        for bet in ctx.state.bets_of_round(provider, user_id, round_id)
        if bet.state is BetState.OPEN and bet.currency == cmd.currency
    ]
    balance = account.balance
    return ctx.applied(
        _operator_body(ctx, cmd, account.status, balance, balance),
        bet_states=tuple((bet.provider, bet.bet_tx_id, BetState.LOST) for bet in settled),
        events=(
            ctx.event(
                old=balance,
                new=balance,
                amount=None,
                round_id=cmd.round_id,
                bet_state=BetState.LOST if settled else None,
            ),
        ),
    )


# -- player protection ------------------------------------------------------------------------


def _command_time(command: Command) -> datetime:
    """The command's own time: a webhook's ``received_at``, an operator command's
    ``requested_at`` (the ledger has no clock of its own)."""
    at = command.received_at if isinstance(command, WebhookEnvelope) else command.requested_at
    return _as_utc(at)


def _refuse_if_excluded(ctx: _Ctx, amount: int | None = None) -> None:
    exclusion = ctx.state.exclusion(ctx.user_id, ctx.currency)
    if exclusion is None or not exclusion.in_force(_command_time(ctx.command)):
        return
    until = exclusion.until
    detail = f"user {ctx.user_id} is self-excluded " + (
        "indefinitely" if until is None else f"until {until.isoformat()}"
    )
    refusal = ctx.reject(
        "player-self-excluded",
        detail,
        exclusion=exclusion.kind.value,
        until=None if until is None else until.isoformat(),
    )
    event = _protection_event(
        ctx,
        "refused",
        ProtectionEventKind.REFUSED,
        exclusion=exclusion.kind.value,
        until=until,
        problem="player-self-excluded",
        amount=None if amount is None else ctx.fmt(amount),
    )
    raise _Refused(replace(refusal, events=(event,), refused_by=exclusion.kind.value))


def _period_totals(ctx: _Ctx) -> dict[LimitPeriod, protection.Totals]:
    at = _command_time(ctx.command)
    zone = ctx.policy.time_zone
    return {
        period: protection.current_totals(
            ctx.state.stored_totals(ctx.user_id, ctx.currency, period), period, at, zone
        )
        for period in CALENDAR_PERIODS
    }


def _refuse_if_breached(
    ctx: _Ctx,
    kinds: tuple[LimitKind, ...],
    amount: int,
    totals: dict[LimitPeriod, protection.Totals],
) -> None:
    limits = ctx.state.limits_of(ctx.user_id, ctx.currency)
    if not limits:
        return
    found = protection.breach(limits, totals, kinds, amount, _command_time(ctx.command))
    if found is None:
        return
    refusal = ctx.reject(
        "limit-exceeded",
        f"{ctx.fmt(amount)} would exceed the {found.kind.value} limit of {ctx.fmt(found.limit)}"
        f" per {found.period.value}; {ctx.fmt(found.allowed)} is still allowed",
        limit=found.kind.value,
        period=found.period.value,
        limit_amount=ctx.fmt(found.limit),
        allowed=ctx.fmt(found.allowed),
    )
    event = _protection_event(
        ctx,
        "refused",
        ProtectionEventKind.REFUSED,
        limit=found.kind.value,
        period=found.period.value,
        limit_amount=ctx.fmt(found.limit),
        problem="limit-exceeded",
        amount=ctx.fmt(amount),
        used=None
        if found.period is LimitPeriod.BET
        else ctx.fmt(totals[found.period].used(found.kind)),
        period_start=None
        if found.period is LimitPeriod.BET
        else totals[found.period].start.isoformat(),
    )
    refused_by = f"{found.kind.value}/{found.period.value}"
    raise _Refused(replace(refusal, events=(event,), refused_by=refused_by))


def _refuse_past_ceiling(
    ctx: _Ctx, totals: dict[LimitPeriod, protection.Totals], *, deposits: int = 0, wagers: int = 0
) -> None:
    """Refuse a deposit or a stake that would take a period total past what its column holds
    (the database never has to be the one to overflow)."""
    found = protection.over_ceiling(totals, deposits=deposits, wagers=wagers)
    if found is None:
        return
    kind, period = found
    raise _Refused(
        ctx.reject(
            "period-total-exceeded",
            f"the {period.period.value}'s {kind.value} total {ctx.fmt(period.used(kind))} cannot"
            f" grow by {ctx.fmt(deposits or wagers)}: it would pass {ctx.fmt(protection.TOTAL_CEILING)}",
            period=period.period.value,
            period_start=period.start.isoformat(),
        )
    )


def _totals_after(
    ctx: _Ctx,
    totals: dict[LimitPeriod, protection.Totals],
    *,
    deposits: int = 0,
    wagers: int = 0,
    losses: int = 0,
) -> tuple[tuple[protection.Totals, ...], tuple[OutboxEvent, ...]]:
    """The period totals to store after this decision, and an event per threshold crossed."""
    after, crossings = protection.add(
        ctx.state.limits_of(ctx.user_id, ctx.currency),
        totals,
        _command_time(ctx.command),
        deposits=deposits,
        wagers=wagers,
        losses=losses,
    )
    events = tuple(
        _protection_event(
            ctx,
            f"threshold:{c.kind.value}:{c.period.value}:{c.threshold}",
            ProtectionEventKind.THRESHOLD_REACHED,
            limit=c.kind.value,
            period=c.period.value,
            limit_amount=ctx.fmt(c.limit),
            threshold_percent=c.threshold,
            used=ctx.fmt(c.used),
            period_start=c.start.isoformat(),
        )
        for c in crossings
    )
    return tuple(after.values()), events


#: ``ProtectionEvent``'s optional fields, in its order (every event carries all of them).
_PROTECTION_EVENT_FIELDS = (
    "limit",
    "period",
    "limit_amount",
    "effective_at",
    "exclusion",
    "until",
    "problem",
    "amount",
    "threshold_percent",
    "used",
    "period_start",
    "requested_by",
    "reason",
)


def _protection_event(
    ctx: _Ctx, suffix: str, kind: ProtectionEventKind, **fields: Any
) -> OutboxEvent:
    event_id = uuid5_text(EVENT_NAMESPACE, f"{ctx.operator_tx_id}:protection:{suffix}")
    payload: dict[str, Any] = {
        "event_id": event_id,
        "event_type": PROTECTION_EVENT_TYPE,
        "schema_version": 1,
        "kind": kind.value,
        "operator_tx_id": ctx.operator_tx_id,
        "user_id": ctx.user_id,
        "currency": ctx.currency,
    }
    payload.update({name: fields.get(name) for name in _PROTECTION_EVENT_FIELDS})
    payload["occurred_at"] = _command_time(ctx.command)
    return OutboxEvent(event_id, ctx.user_id, dumps_compact(payload))


def _who_and_why(ctx: _Ctx, cmd: OperatorCommand) -> tuple[str, str]:
    """A protection change is kept with who asked and why: both are required."""
    if not cmd.requested_by:
        raise _Refused(
            ctx.reject("invalid-field", "requested_by is required", field="requested_by")
        )
    if not cmd.reason:
        raise _Refused(ctx.reject("invalid-field", "reason is required", field="reason"))
    return cmd.requested_by, cmd.reason


def _command_body(ctx: _Ctx, cmd: OperatorCommand, **fields: Any) -> str:
    """An operator command's answer: its ids, then ``fields`` in order."""
    return dumps_compact(
        {
            "operator_tx_id": ctx.operator_tx_id,
            "kind": cmd.kind,
            "idempotency_key": cmd.idempotency_key,
            "user_id": cmd.user_id,
            "currency": cmd.currency,
            **fields,
        }
    )


@_refusing
def _change_limit(ctx: _Ctx, cmd: OperatorCommand) -> Decision:
    _account_or_refuse(ctx)
    requested_by, reason = _who_and_why(ctx, cmd)
    kind, period = cmd.limit, cmd.period
    if kind is None:
        return ctx.reject("invalid-field", "limit is required", field="limit")
    if period is None or not period_fits(kind, period):
        return ctx.reject(
            "invalid-field",
            "period must be bet for max_bet, and day, week or month for the others",
            field="period",
        )
    requested: int | None = None
    if cmd.kind is OperatorKind.SET_LIMIT:
        requested, _ = _amount_or_refuse(ctx, cmd.amount, allow_zero=False)
    at = _command_time(cmd)
    current = ctx.state.limits_of(ctx.user_id, ctx.currency).get((kind, period))
    change = protection.change_limit(
        current, kind, period, requested, at=at, cooling_off=ctx.policy.limit_cooling_off
    )
    in_force = None if change.in_force is None else ctx.fmt(change.in_force)
    wanted = None if requested is None else ctx.fmt(requested)
    record = ProtectionRecord(
        time_zone=ctx.policy.time_zone,
        change=cmd.kind.value,
        idempotency_key=cmd.idempotency_key,
        requested_at=at,
        requested_by=requested_by,
        reason=reason,
        effective_at=change.effective_at,
        limit_kind=kind,
        period=period,
        amount=requested,
    )
    return ctx.applied(
        _command_body(
            ctx,
            cmd,
            limit=kind.value,
            period=period.value,
            limit_amount=in_force,
            requested=wanted,
            effective_at=change.effective_at,
        ),
        limit=change.limit,
        protection_record=record,
        events=(
            _protection_event(
                ctx,
                "limit",
                ProtectionEventKind.LIMIT_CHANGED,
                limit=kind.value,
                period=period.value,
                limit_amount=wanted,
                effective_at=change.effective_at,
                requested_by=requested_by,
                reason=reason,
            ),
        ),
    )


@_refusing
def _exclude(ctx: _Ctx, cmd: OperatorCommand) -> Decision:
    _account_or_refuse(ctx)
    requested_by, reason = _who_and_why(ctx, cmd)
    at = _command_time(cmd)
    until = None if cmd.until is None else _as_utc(cmd.until)
    kind = (
        ExclusionKind.TIME_OUT
        if cmd.kind is OperatorKind.TIME_OUT
        else ExclusionKind.SELF_EXCLUSION
    )
    if kind is ExclusionKind.TIME_OUT and until is None:
        return ctx.reject("invalid-field", "a time-out needs an end (until)", field="until")
    if until is not None and until <= at:
        return ctx.reject("invalid-field", "until must be later than now", field="until")
    current = ctx.state.exclusion(ctx.user_id, ctx.currency)
    exclusion = protection.extend_exclusion(current, kind, until, at)
    record = ProtectionRecord(
        time_zone=ctx.policy.time_zone,
        change=cmd.kind.value,
        idempotency_key=cmd.idempotency_key,
        requested_at=at,
        requested_by=requested_by,
        reason=reason,
        effective_at=at,
        exclusion=kind.value,
        until=until,
    )
    return ctx.applied(
        _command_body(
            ctx,
            cmd,
            exclusion=exclusion.kind.value,
            since=exclusion.since,
            until=exclusion.until,
        ),
        exclusion=None if exclusion == current else exclusion,
        protection_record=record,
        events=(
            _protection_event(
                ctx,
                "exclusion",
                ProtectionEventKind.EXCLUDED,
                exclusion=exclusion.kind.value,
                effective_at=exclusion.since,
                until=exclusion.until,
                requested_by=requested_by,
                reason=reason,
            ),
        ),
    )


_OPERATOR = {
    OperatorKind.CREATE_ACCOUNT: _create_account,
    OperatorKind.BLOCK: _set_status,
    OperatorKind.UNBLOCK: _set_status,
    OperatorKind.DEPOSIT: _deposit_or_withdraw,
    OperatorKind.WITHDRAW: _deposit_or_withdraw,
    OperatorKind.SETTLE_LOST: _settle_lost,
    OperatorKind.SET_LIMIT: _change_limit,
    OperatorKind.REMOVE_LIMIT: _change_limit,
    OperatorKind.EXCLUDE: _exclude,
    OperatorKind.TIME_OUT: _exclude,
}
