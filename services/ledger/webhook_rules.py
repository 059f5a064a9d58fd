"""The decision table's webhook rows: bet, win, lose, rollback. One function per kind. Pure.

Each returns ``row.applied(...)`` or raises a refusal (``row.refuse``); see
``docs/wallet-semantics.md`` for the rows.
"""

from __future__ import annotations

from collections.abc import Callable

from services.ledger import checks, protection
from services.ledger.model import (
    BALANCE_CEILING,
    MAX_BALANCE_MINOR,
    AccountStatus,
    AccountType,
    Bet,
    BetChange,
    BetState,
    Decision,
    Flag,
    Grant,
    GrantChange,
    PlaceBet,
    RoundLock,
    Tombstone,
    as_utc,
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
from shared.contracts.commands import Mode, WebhookEnvelope, WebhookKind


def _noise(rounded: bool) -> tuple[Flag, ...]:
    return (Flag.AMOUNT_NOISE_ROUNDED,) if rounded else ()


def bet(row: Row, env: WebhookEnvelope) -> Decision:
    account = checks.account(row)
    if account.status is AccountStatus.BLOCKED:
        raise row.refuse("player-blocked", f"user {row.user_id} is blocked")
    refuse_if_excluded(row)
    if row.policy.session_check:
        checks.session(row, env)
    free = env.mode is Mode.FREE
    parsed = checks.amount(row, allow_zero=free, missing_is_zero=free)
    amount, flags = parsed.minor, _noise(parsed.noise_rounded)
    if row.state.tombstone(row.key.provider, row.key.provider_tx_id) is not None:
        raise row.refuse(
            "transaction-rolled-back", f"bet {row.key.provider_tx_id} was already rolled back"
        )
    grant_id: int | None = None
    balance = account.balance
    after = TotalsAfter()
    if free:
        grant = _free_bet_grant(row, env)
        grant_id = None if grant is None else grant.grant_id
        delta = 0
    else:
        totals = period_totals(row)
        refuse_if_breached(row, protection.STAKE_KINDS, amount, totals)
        refuse_past_ceiling(row, totals, wagers=amount)
        after = totals_after(row, totals, wagers=amount, losses=amount)
        if balance < amount:
            raise row.refuse(
                "insufficient-funds",
                f"balance {row.fmt(balance)} is below the stake {row.fmt(amount)}",
                status=row.policy.insufficient_funds_status,
                balance=row.fmt(balance),
            )
        delta = -amount
    new_bet = Bet(
        provider=row.key.provider,
        bet_tx_id=row.key.provider_tx_id,
        user_id=row.user_id,
        currency=row.currency,
        round_id=env.round_id,
        amount=amount,
        mode=env.mode,
        bonus_code=env.bonus_code,
        grant_id=grant_id,
        state=BetState.OPEN,
        operator_tx_id=row.operator_tx_id,
    )
    moved = (
        ()
        if delta == 0
        else (row.movement(AccountType.PROVIDER_CLEARING, row.key.provider, delta),)
    )
    new_balance = balance + delta
    return row.applied(
        row.texts.money_body(balance, new_balance),
        *moved,
        PlaceBet(new_bet),
        *(() if grant_id is None else (GrantChange(grant_id, -1),)),
        *after.totals,
        row.texts.transaction_event(
            old=balance,
            new=new_balance,
            amount=amount,
            round_id=env.round_id,
            mode=env.mode,
            bet_state=BetState.OPEN,
            flags=flags,
        ),
        *after.alerts,
        flags=flags,
    )


def _free_bet_grant(row: Row, env: WebhookEnvelope) -> Grant | None:
    """The grant a free bet consumes a unit of; ``None`` when the player has no grant at all
    (free bets granted at Hypetech without a recorded grant are accepted as they come).

    A player with grants in the currency must have a usable one matching the bet's bonus code:
    otherwise any code would spend free bets without ever consuming a unit.
    """
    grants = row.state.grants_of(row.user_id, row.currency)
    if not grants:
        return None
    matching = [
        grant
        for grant in grants
        if env.bonus_code is None or grant.bonus_code is None or grant.bonus_code == env.bonus_code
    ]
    now = as_utc(env.received_at)
    usable = [
        grant
        for grant in matching
        if grant.remaining > 0 and (grant.expires_at is None or as_utc(grant.expires_at) > now)
    ]
    if not usable:
        raise row.refuse("no-free-bets-left", f"user {row.user_id} has no free bets left")
    return usable[0]


def win(row: Row, env: WebhookEnvelope) -> Decision:
    account = checks.account(row)
    parsed = checks.amount(row, allow_zero=True)
    amount, flags = parsed.minor, _noise(parsed.noise_rounded)
    provider = row.key.provider
    round_lock: RoundLock | None = None
    if env.linked_tx_id is not None:
        linked = row.state.bet(provider, env.linked_tx_id)
        if linked is None or linked.user_id != row.user_id or linked.currency != row.currency:
            raise row.refuse("bet-not-found", f"no bet {env.linked_tx_id} of user {row.user_id}")
        if linked.state is BetState.ROLLED_BACK:
            raise row.refuse(
                "bet-rolled-back",
                f"bet {linked.bet_tx_id} was rolled back",
                flags=(Flag.WIN_ON_ROLLED_BACK_BET,),
            )
        if linked.state is not BetState.OPEN:
            raise row.refuse(
                "bet-already-settled", f"bet {linked.bet_tx_id} is already {linked.state.value}"
            )
        settled = [linked]
        free = linked.mode == Mode.FREE
    else:
        bets = (
            []
            if env.round_id is None
            else row.state.bets_of_round(provider, row.user_id, env.round_id)
        )
        if not bets:
            if row.policy.win_without_round != "accept_and_flag":
                raise row.refuse(
                    "round-not-found", f"user {row.user_id} has no bet in round {env.round_id}"
                )
            flags = (*flags, Flag.WIN_WITHOUT_ROUND)
            settled = []
            free = env.mode is Mode.FREE
        else:
            live = [b for b in bets if b.state is not BetState.ROLLED_BACK]
            if not live:
                raise row.refuse(
                    "bet-rolled-back",
                    f"every bet of round {env.round_id} was rolled back",
                    flags=(Flag.WIN_ON_ROLLED_BACK_BET,),
                )
            settled = [b for b in live if b.state is BetState.OPEN]
            free = all(b.mode == Mode.FREE for b in live)
            assert env.round_id is not None  # noqa: S101 - bets were found by it
            if not row.state.round_locked(provider, row.user_id, env.round_id):
                round_lock = RoundLock(provider, row.user_id, env.round_id, row.operator_tx_id)
    free = free or env.mode is Mode.FREE
    counterparty = AccountType.BONUS if free else AccountType.PROVIDER_CLEARING
    moved = () if amount == 0 else (row.movement(counterparty, provider, amount),)
    balance = account.balance
    checks.within_bound(row, balance, amount, MAX_BALANCE_MINOR)
    after = TotalsAfter()
    if amount and not free:  # a win takes back from the period's net loss
        after = totals_after(row, period_totals(row), losses=-amount)
    return row.applied(
        row.texts.money_body(balance, balance + amount),
        *moved,
        *(BetChange(b.provider, b.bet_tx_id, BetState.WON) for b in settled),
        *(() if round_lock is None else (round_lock,)),
        *after.totals,
        row.texts.transaction_event(
            old=balance,
            new=balance + amount,
            amount=amount,
            round_id=env.round_id,
            mode=env.mode,
            bet_state=BetState.WON if settled else None,
            flags=flags,
        ),
        flags=flags,
    )


def lose(row: Row, env: WebhookEnvelope) -> Decision:
    account = checks.account(row)
    provider = row.key.provider
    if env.linked_tx_id is not None:
        linked = row.state.bet(provider, env.linked_tx_id)
        bets = [] if linked is None or linked.user_id != row.user_id else [linked]
    elif env.round_id is not None:
        bets = row.state.bets_of_round(provider, row.user_id, env.round_id)
    else:
        bets = []
    settled = [b for b in bets if b.state is BetState.OPEN]
    balance = account.balance
    return row.settled_lost(
        row.texts.money_body(balance, balance), settled, balance, env.round_id, env.mode
    )


def rollback(row: Row, env: WebhookEnvelope) -> Decision:
    account = checks.account(row)
    provider = row.key.provider
    target = env.rollback_target
    assert target is not None  # noqa: S101 - the key has a provider_tx_id, the last fallback
    balance = account.balance
    undone = row.state.bet(provider, target)
    if undone is not None and (undone.user_id != row.user_id or undone.currency != row.currency):
        raise row.refuse("bet-not-found", f"bet {target} is not a bet of user {row.user_id}")
    if undone is None:
        tombstone: tuple[Tombstone, ...] = ()
        if row.state.tombstone(provider, target) is None:
            tombstone = (
                Tombstone(provider, target, row.key.provider_tx_id, row.user_id, row.currency),
            )
        if row.policy.rollback_unknown_status != 200:
            raise row.refuse(
                "bet-not-found",
                f"no bet {target}; a tombstone refuses it if it arrives",
                status=row.policy.rollback_unknown_status,
                effects=tombstone,
            )
        return row.applied(
            row.texts.money_body(balance, balance),
            *tombstone,
            row.texts.transaction_event(
                old=balance, new=balance, amount=None, round_id=env.round_id, mode=env.mode
            ),
        )
    if undone.state is BetState.ROLLED_BACK:
        return row.applied(
            row.texts.money_body(balance, balance),
            row.texts.transaction_event(
                old=balance,
                new=balance,
                amount=None,
                round_id=undone.round_id,
                mode=undone.mode,
                bet_state=undone.state,
            ),
        )
    locked = undone.round_id is not None and row.state.round_locked(
        provider, row.user_id, undone.round_id
    )
    if undone.state is BetState.WON or locked:
        raise row.refuse(
            "bet-already-settled",
            f"bet {target} is already settled by a win",
            flags=(Flag.ROLLBACK_OF_SETTLED_BET,),
        )
    flags: tuple[Flag, ...] = ()
    if checks.differs_from(row, undone.amount):
        flags = (Flag.ROLLBACK_AMOUNT_DIFFERS,)
    refund = 0 if undone.mode == Mode.FREE else undone.amount
    checks.within_bound(row, balance, refund, BALANCE_CEILING)
    moved = () if refund == 0 else (row.movement(AccountType.PROVIDER_CLEARING, provider, refund),)
    after = TotalsAfter()
    if refund:  # a refunded stake is no longer lost
        after = totals_after(row, period_totals(row), losses=-refund)
    return row.applied(
        row.texts.money_body(balance, balance + refund),
        *moved,
        *after.totals,
        BetChange(undone.provider, undone.bet_tx_id, BetState.ROLLED_BACK),
        *(() if undone.grant_id is None else (GrantChange(undone.grant_id, 1),)),
        row.texts.transaction_event(
            old=balance,
            new=balance + refund,
            amount=refund,
            round_id=undone.round_id,
            mode=undone.mode,
            bet_state=BetState.ROLLED_BACK,
            flags=flags,
        ),
        flags=flags,
    )


#: The rule of each webhook kind that is decided and stored (a balance read is neither).
WEBHOOK_RULES: dict[WebhookKind, Callable[[Row, WebhookEnvelope], Decision]] = {
    WebhookKind.BET: bet,
    WebhookKind.WIN: win,
    WebhookKind.LOSE: lose,
    WebhookKind.ROLLBACK: rollback,
}
