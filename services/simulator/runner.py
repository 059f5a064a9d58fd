"""Plays crash rounds against the operator: the shell around the pure game core.

Each round: publish the seed hash, open the betting window (every player in an open session places
its strategy's bets, some are cancelled), crash at the provably fair point, settle (cash-outs are
wins linked to their bet, the rest lose), reveal the seed. Every webhook goes through the sender;
every outcome and every injected fault lands in the truth.
"""

from __future__ import annotations

import asyncio
import contextvars
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal

from services.simulator.fairness import SeedChain, crash_point_x100
from services.simulator.players import (
    PlannedBet,
    Strategy,
    cashes_out,
    payout_minor,
    pick_strategy,
    plan_bets,
)
from services.simulator.sender import Delivery, WebhookSender
from services.simulator.truth import (
    FaultKind,
    FreeBetGrant,
    Round,
    RoundStatus,
    Session,
    Transaction,
    Truth,
    TxStatus,
    TxType,
)
from services.simulator.webhooks import RenderedWebhook, WebhookEvent, supports
from shared.contracts.commands import Generation, WebhookKind
from shared.jsonwire import MalformedJson, loads_exact

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]
Render = Callable[[WebhookEvent], RenderedWebhook]


def utc_now() -> datetime:
    return datetime.now(UTC)


class IdSequence:
    """Numeric ids that never repeat across simulator runs: they start at the start time in µs."""

    def __init__(self, start: int | None = None) -> None:
        self._next = start if start is not None else time.time_ns() // 1000

    def next(self) -> str:
        value = self._next
        self._next += 1
        return str(value)


@dataclass(frozen=True, slots=True)
class FaultRates:
    duplicate: Decimal = Decimal(0)
    rollback_before_bet: Decimal = Decimal(0)
    lost_reply: Decimal = Decimal(0)
    drift: Decimal = Decimal(0)
    wrong_rollback_amount: Decimal = Decimal(0)


@dataclass
class Outcomes:
    rounds: int = 0
    counts: Counter[str] = field(default_factory=Counter)


class GameRunner:
    def __init__(
        self,
        *,
        truth: Truth,
        sender: WebhookSender,
        render: Render,
        chain: SeedChain,
        generation: Generation,
        provider: str,
        rng: random.Random,
        faults: FaultRates,
        salt: str,
        house_edge_bps: int,
        betting_window_s: float = 0.2,
        flight_s: float = 0.0,
        min_round_s: float = 0.0,
        concurrency: int = 32,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
        tx_ids: IdSequence | None = None,
        round_ids: IdSequence | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.truth = truth
        self.sender = sender
        self._render = render
        self.chain = chain
        self.generation = generation
        self.provider = provider
        self._rng = rng
        self._strategy_seed = rng.getrandbits(64)
        self._player_rng: contextvars.ContextVar[random.Random | None] = contextvars.ContextVar(
            "player_rng", default=None
        )
        self._faults = faults
        self._salt = salt
        self._edge = house_edge_bps
        self._window = betting_window_s
        self._flight = flight_s
        self._min_round = min_round_s
        self._slots = asyncio.Semaphore(concurrency)
        self._clock = clock
        self._sleep = sleep
        self._tx_ids = tx_ids or IdSequence()
        self._round_ids = round_ids or IdSequence()
        self._monotonic = monotonic
        self._strategies: dict[str, Strategy] = {}
        self._balance_checked: set[str] = set()
        self.round_number = 0
        self.outcomes = Outcomes()
        self._lock = asyncio.Lock()
        truth.fairness.update(
            {
                "terminal_hash": chain.terminal_hash,
                "salt": salt,
                "house_edge_bps": house_edge_bps,
                "chain_length": chain.length,
                "formula": "bustabit-style: HMAC-SHA256(key=seed, msg=salt), first 52 bits",
            }
        )

    # -- rounds ---------------------------------------------------------------------------

    async def play(self, rounds: int, progress: Callable[[], None] | None = None) -> None:
        async with self._lock:
            for _ in range(rounds):
                started = self._monotonic()
                await self.play_round()
                if progress is not None:
                    progress()
                left = self._min_round - (self._monotonic() - started)
                if left > 0:
                    await self._sleep(left)

    def _players(self) -> list[Session]:
        """One open session per player: the newest unexpired one."""
        now = self._clock()
        newest: dict[tuple[str, str], Session] = {}
        for session in self.truth.sessions.values():
            if session.expires_at <= now:
                continue
            key = (session.user_id, session.currency)
            current = newest.get(key)
            if current is None or session.created_at >= current.created_at:
                newest[key] = session
        return sorted(newest.values(), key=lambda session: (session.user_id, session.currency))

    async def play_round(self) -> Round:
        self.round_number += 1
        number = self.round_number
        rnd = Round(
            self._round_ids.next(), number, self.chain.seed_hash(number), started_at=self._clock()
        )
        self.truth.rounds[rnd.round_id] = rnd
        sessions = self._players()
        window_started = self._monotonic()
        round_seed = self._rng.getrandbits(64)
        placed = await asyncio.gather(
            *(
                self._betting(rnd, session, f"{round_seed}:{index}", index)
                for index, session in enumerate(sessions)
            )
        )
        left = self._window - (self._monotonic() - window_started)
        if left > 0:
            await self._sleep(left)
        rnd.status = RoundStatus.FLYING
        if self._flight > 0:
            await self._sleep(self._flight)
        seed = self.chain.seed(number)
        crash = crash_point_x100(seed, salt=self._salt, house_edge_bps=self._edge)
        rnd.crash_point = Decimal(crash).scaleb(-2)
        await asyncio.gather(
            *(
                self._settle(rnd, session, bets, crash, f"{round_seed}:{index}")
                for index, (session, bets) in enumerate(zip(sessions, placed, strict=True))
            )
        )
        rnd.status = RoundStatus.FINISHED
        rnd.seed = seed
        rnd.finished_at = self._clock()
        self.outcomes.rounds += 1
        return rnd

    # -- betting --------------------------------------------------------------------------

    def _use_player_rng(self, player_seed: str, phase: str) -> random.Random:
        """This player's own generator for this round and phase (players are numbered in user id
        order), so a seeded run makes the same choices whatever order deliveries finish in."""
        rng = random.Random(f"{player_seed}:{phase}")  # noqa: S311
        self._player_rng.set(rng)
        return rng

    def _chance(self, rate: Decimal) -> bool:
        rng = self._player_rng.get(None) or self._rng
        return rate > 0 and rng.randrange(1_000_000) < int(rate * 1_000_000)

    def _event(
        self, session: Session, kind: WebhookKind, tx: Transaction | None, rnd_id: str | None
    ) -> WebhookEvent:
        exponent = self.truth.currencies.exponent(session.currency)
        return WebhookEvent(
            kind=kind,
            user_id=session.user_id,
            currency=session.currency,
            session_token=session.token,
            game=session.game,
            provider=self.provider,
            tx_id=None if tx is None else tx.tx_id,
            amount=None if tx is None else Decimal(tx.amount_minor).scaleb(-exponent),
            round_id=rnd_id,
            mode="default" if tx is None else tx.mode,
            linked_tx_id=None if tx is None else tx.linked_tx_id,
            bonus_code=None if tx is None else tx.bonus_code,
            extra_data=session.extra_data,
        )

    async def _deliver(
        self, tx: Transaction, webhook: RenderedWebhook, *, drop_first_reply: bool = False
    ) -> Delivery:
        async with self._slots:
            delivery = await self.sender.deliver(webhook, drop_first_reply=drop_first_reply)
            tx.attempts += delivery.attempts
            tx.operator_status = delivery.status
            tx.operator_body = delivery.body
            tx.delivered = True
            if delivery.ok:
                self._note_balance(tx, delivery.body)
            if self._chance(self._faults.duplicate) and delivery.answered:
                # Delivered (and retried) like any webhook: a duplicate that finds the operator
                # away is unanswered, not answered differently.
                again = await self.sender.deliver(webhook)
                same = again.status == delivery.status and again.body == delivery.body
                if not again.answered:
                    outcome, detail = "duplicate_unanswered", f"no answer ({again.status})"
                elif same:
                    outcome, detail = "duplicate_answer_same", "same answer"
                else:
                    outcome = "duplicate_answer_differed"
                    detail = f"answered {again.status}: {again.body[:200]}"
                self.truth.record_fault(FaultKind.DUPLICATE, tx, detail)
                self.outcomes.counts[outcome] += 1
        return delivery

    def _note_balance(self, tx: Transaction, body: str) -> None:
        try:
            parsed = loads_exact(body)
        except MalformedJson:
            return
        if isinstance(parsed, dict):
            value = parsed.get("new_balance", parsed.get("balance"))
            if value is not None:
                self.truth.player(tx.user_id, tx.currency).operator_reported = str(value)

    async def _check_balance(self, session: Session) -> None:
        if session.token in self._balance_checked or not supports(
            self.generation, WebhookKind.BALANCE
        ):
            return
        self._balance_checked.add(session.token)
        webhook = self._render(self._event(session, WebhookKind.BALANCE, None, None))
        async with self._slots:
            delivery = await self.sender.deliver(webhook)
        self.outcomes.counts[f"balance_{delivery.status}"] += 1
        if delivery.ok:
            try:
                parsed = loads_exact(delivery.body)
            except MalformedJson:
                return
            if isinstance(parsed, dict) and parsed.get("balance") is not None:
                self.truth.player(session.user_id, session.currency).operator_reported = str(
                    parsed["balance"]
                )

    def _free_bet(self, session: Session) -> FreeBetGrant | None:
        """A unit of the player's first usable free-bet grant for this game, if any."""
        now = self._clock()
        for grant in self.truth.free_bets:
            if (
                grant.user_id == session.user_id
                and grant.currency == session.currency
                and grant.game_slug == session.game
                and grant.usable_at(now)
            ):
                grant.used += 1
                return grant
        return None

    def _record(
        self,
        tx_type: TxType,
        rnd: Round,
        session: Session,
        amount_minor: int,
        *,
        tx_id: str | None = None,
        bet: Transaction | None = None,
    ) -> Transaction:
        """A new transaction of this round in the truth; ``bet`` links it (and gives its mode)."""
        return self.truth.add(
            Transaction(
                tx_id=tx_id or self._tx_ids.next(),
                type=tx_type,
                session_token=session.token,
                user_id=session.user_id,
                currency=session.currency,
                round_id=rnd.round_id,
                amount_minor=amount_minor,
                requested_at=self._clock(),
                linked_tx_id=None if bet is None or tx_type is TxType.LOSE else bet.tx_id,
                mode="default" if bet is None else bet.mode,
                bonus_code=None if bet is None or tx_type is not TxType.WIN else bet.bonus_code,
            )
        )

    async def _betting(
        self, rnd: Round, session: Session, player_seed: str, index: int
    ) -> list[tuple[Transaction, PlannedBet]]:
        rng = self._use_player_rng(player_seed, "bets")
        session.opened = True
        await self._check_balance(session)
        if session.user_id not in self._strategies:
            chooser = random.Random(f"{self._strategy_seed}:{index}")  # noqa: S311
            self._strategies[session.user_id] = pick_strategy(chooser)
        strategy = self._strategies[session.user_id]
        player = self.truth.player(session.user_id, session.currency)
        exponent = self.truth.currencies.exponent(session.currency)
        planned = plan_bets(
            strategy, balance_minor=player.provider_minor, exponent=exponent, rng=rng
        )
        accepted: list[tuple[Transaction, PlannedBet]] = []
        free = self._free_bet(session) if planned else None
        for plan in planned:
            bet = plan
            tx = self._record(TxType.BET, rnd, session, bet.stake_minor)
            if free is not None and bet.slot == 1:
                tx.amount_minor, tx.bonus_code, tx.mode = free.value_minor, free.bonus_code, "free"
                if free.max_multiplier_x100 is not None:
                    bet = replace(bet, target_x100=min(bet.target_x100, free.max_multiplier_x100))
            if bet.cancel and self._chance(self._faults.rollback_before_bet):
                await self._rollback_first(rnd, session, tx)
                continue
            if await self._place(rnd, session, tx, bet):
                accepted.append((tx, bet))
        return accepted

    async def _place(self, rnd: Round, session: Session, tx: Transaction, bet: PlannedBet) -> bool:
        lose_reply = self._chance(self._faults.lost_reply)
        if lose_reply:
            self.truth.record_fault(
                FaultKind.LOST_REPLY, tx, "the first answer is dropped; sent again"
            )
        event = self._event(session, WebhookKind.BET, tx, rnd.round_id)
        event = replace(event, count_register=bet.slot)
        delivery = await self._deliver(tx, self._render(event), drop_first_reply=lose_reply)
        player = self.truth.player(tx.user_id, tx.currency)
        if delivery.ok:
            tx.status = TxStatus.SUCCESS
            if tx.mode != "free":
                player.provider_minor -= tx.amount_minor
                player.expected_operator_minor -= tx.amount_minor
            self.outcomes.counts["bet_accepted"] += 1
            if bet.cancel:
                await self._cancel(rnd, session, tx)
                return False
            return True
        if delivery.answered:
            tx.status = TxStatus.REJECTED
            self.outcomes.counts[f"bet_rejected_{delivery.status}"] += 1
            return False
        # No answer after every retry: the provider cancels the bet it could not confirm.
        tx.status = TxStatus.FAILED
        self.outcomes.counts["bet_unanswered"] += 1
        await self._cancel(rnd, session, tx, unconfirmed=True)
        return False

    def _rollback_tx(
        self, rnd: Round, session: Session, bet: Transaction, amount_minor: int
    ) -> Transaction:
        own_id = (
            bet.tx_id if self.generation in (Generation.V2, Generation.V3) else self._tx_ids.next()
        )
        return self._record(TxType.ROLLBACK, rnd, session, amount_minor, tx_id=own_id, bet=bet)

    async def _cancel(
        self, rnd: Round, session: Session, bet: Transaction, *, unconfirmed: bool = False
    ) -> None:
        """Roll back a bet: cancelled in the betting window, or never confirmed by the operator."""
        amount = bet.amount_minor
        wrong = not unconfirmed and self._chance(self._faults.wrong_rollback_amount)
        if wrong:
            amount = bet.amount_minor + 10 ** self.truth.currencies.exponent(bet.currency)
        rollback = self._rollback_tx(rnd, session, bet, amount)
        if wrong:
            self.truth.record_fault(
                FaultKind.WRONG_ROLLBACK_AMOUNT,
                rollback,
                f"sent {self.truth.money(amount, bet.currency)}, "
                f"stake {self.truth.money(bet.amount_minor, bet.currency)}",
            )
        delivery = await self._deliver(
            rollback,
            self._render(self._event(session, WebhookKind.ROLLBACK, rollback, rnd.round_id)),
        )
        player = self.truth.player(bet.user_id, bet.currency)
        if delivery.ok:
            rollback.status = TxStatus.SUCCESS
            self.outcomes.counts["rollback_accepted"] += 1
            if bet.status is TxStatus.SUCCESS and bet.mode != "free":
                player.provider_minor += amount
                player.expected_operator_minor += bet.amount_minor
            bet.status = TxStatus.ROLLED_BACK
        else:
            rollback.status = TxStatus.REJECTED if delivery.answered else TxStatus.FAILED
            self.outcomes.counts[f"rollback_failed_{delivery.status}"] += 1

    async def _rollback_first(self, rnd: Round, session: Session, bet: Transaction) -> None:
        """Fault: the cancellation overtakes its bet. The bet must then be refused."""
        self.truth.record_fault(
            FaultKind.ROLLBACK_BEFORE_BET, bet, "rollback delivered before its bet"
        )
        rollback = self._rollback_tx(rnd, session, bet, bet.amount_minor)
        delivery = await self._deliver(
            rollback,
            self._render(self._event(session, WebhookKind.ROLLBACK, rollback, rnd.round_id)),
        )
        rollback.status = TxStatus.SUCCESS if delivery.ok else TxStatus.FAILED
        late = await self._deliver(
            bet, self._render(self._event(session, WebhookKind.BET, bet, rnd.round_id))
        )
        if late.ok:  # the operator applied a bet whose rollback it already had: a real mismatch
            bet.status = TxStatus.SUCCESS
            player = self.truth.player(bet.user_id, bet.currency)
            if bet.mode != "free":
                player.expected_operator_minor -= bet.amount_minor
            self.outcomes.counts["late_bet_accepted"] += 1
        else:
            bet.status = TxStatus.ROLLED_BACK
            self.outcomes.counts[f"late_bet_refused_{late.status}"] += 1

    # -- settling -------------------------------------------------------------------------

    async def _settle(
        self,
        rnd: Round,
        session: Session,
        bets: list[tuple[Transaction, PlannedBet]],
        crash: int,
        player_seed: str,
    ) -> None:
        self._use_player_rng(player_seed, "settle")
        for bet, plan in bets:
            if bet.status is not TxStatus.SUCCESS:
                continue
            if cashes_out(plan.target_x100, crash):
                await self._win(rnd, session, bet, payout_minor(bet.amount_minor, plan.target_x100))
            else:
                await self._lose(rnd, session, bet)

    async def _win(self, rnd: Round, session: Session, bet: Transaction, payout: int) -> None:
        win = self._record(TxType.WIN, rnd, session, payout, bet=bet)
        player = self.truth.player(bet.user_id, bet.currency)
        if self._chance(self._faults.drift):
            win.status = TxStatus.SUCCESS
            player.provider_minor += payout
            self.truth.record_fault(
                FaultKind.DRIFT, win, "recorded SUCCESS by the provider, never sent"
            )
            self.outcomes.counts["win_drifted"] += 1
            return
        delivery = await self._deliver(
            win, self._render(self._event(session, WebhookKind.WIN, win, rnd.round_id))
        )
        if delivery.ok:
            win.status = TxStatus.SUCCESS
            player.provider_minor += payout
            player.expected_operator_minor += payout
            self.outcomes.counts["win_accepted"] += 1
        else:
            win.status = TxStatus.REJECTED if delivery.answered else TxStatus.FAILED
            self.outcomes.counts[f"win_failed_{delivery.status}"] += 1

    async def _lose(self, rnd: Round, session: Session, bet: Transaction) -> None:
        self.outcomes.counts["lose"] += 1
        if not supports(self.generation, WebhookKind.LOSE):
            return
        lose = self._record(TxType.LOSE, rnd, session, bet.amount_minor, bet=bet)
        delivery = await self._deliver(
            lose, self._render(self._event(session, WebhookKind.LOSE, lose, rnd.round_id))
        )
        lose.status = (
            TxStatus.SUCCESS
            if delivery.ok
            else (TxStatus.REJECTED if delivery.answered else TxStatus.FAILED)
        )
