"""Hypetech's state in one process: sessions, free bets, the game runner, the truth, the faults."""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

import httpx

from services.simulator.fairness import SeedChain
from services.simulator.faults import HttpFaults
from services.simulator.runner import Clock, FaultRates, GameRunner, IdSequence, utc_now
from services.simulator.sender import WebhookSender
from services.simulator.settings import SimulatorSettings
from services.simulator.truth import FreeBetGrant, Session, Truth
from services.simulator.webhooks import RenderedWebhook, WebhookEvent, render
from shared.contracts.commands import WebhookKind
from shared.currencies import UnknownCurrency
from shared.money import InvalidAmount, parse_minor, to_decimal

Sleep = Callable[[float], Awaitable[None]]


class ApiError(Exception):
    def __init__(self, status: int, title: str, detail: str = "") -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail


class Simulator:
    """Hypetech's state in one process: sessions, free bets, the game runner and the truth."""

    def __init__(
        self,
        settings: SimulatorSettings,
        *,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.sleep = sleep
        seed = settings.seed if settings.seed is not None else secrets.randbits(64)
        self.rng = rng or random.Random(seed)  # noqa: S311 - a simulation, not cryptography
        self.seed = seed
        self.truth = Truth()
        self.http_faults = HttpFaults()
        secret = settings.server_secret or secrets.token_hex(32)
        self.chain = SeedChain.generate(secret, settings.chain_length)
        self._webhook_transport = webhook_transport
        self._http: httpx.AsyncClient | None = None
        self._runner: GameRunner | None = None
        self._background: asyncio.Task[None] | None = None
        self.tx_ids = IdSequence()

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(self.settings.webhook_timeout_s),
            transport=self._webhook_transport,
            limits=httpx.Limits(max_connections=self.settings.concurrency),
        )
        s = self.settings
        sender = WebhookSender(
            self._http,
            max_attempts=s.webhook_max_attempts,
            backoff_s=s.webhook_backoff_s,
            sleep=self.sleep,
        )
        self._runner = GameRunner(
            truth=self.truth,
            sender=sender,
            render=self.render,
            chain=self.chain,
            generation=s.generation,
            provider=s.provider,
            rng=self.rng,
            faults=FaultRates(
                duplicate=s.fault_duplicate,
                rollback_before_bet=s.fault_rollback_before_bet,
                lost_reply=s.fault_lost_reply,
                drift=s.fault_drift,
                wrong_rollback_amount=s.fault_wrong_rollback_amount,
            ),
            salt=s.salt,
            house_edge_bps=s.house_edge_bps,
            betting_window_s=s.betting_window_s,
            flight_s=s.flight_s,
            min_round_s=1.0 / s.rounds_per_second if s.rounds_per_second > 0 else 0.0,
            concurrency=s.concurrency,
            clock=self.clock,
            sleep=self.sleep,
            tx_ids=self.tx_ids,
        )

    async def stop(self) -> None:
        if self._background is not None and not self._background.done():
            self._background.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._background
        if self._http is not None:
            await self._http.aclose()

    @property
    def runner(self) -> GameRunner:
        if self._runner is None:
            raise RuntimeError("the simulator is not started")
        return self._runner

    # -- webhooks -----------------------------------------------------------------------------

    def render(self, event: WebhookEvent) -> RenderedWebhook:
        s = self.settings
        paths = {
            WebhookKind.BET: s.path_bet,
            WebhookKind.WIN: s.path_win,
            WebhookKind.LOSE: s.path_win,
            WebhookKind.ROLLBACK: s.path_rollback,
            WebhookKind.BALANCE: s.path_balance,
        }
        return render(
            event,
            s.generation,
            base_url=s.webhook_base_url,
            paths=paths,
            api_key=s.webhook_api_key.get_secret_value(),
            sign_query_string=s.sign_query_string,
        )

    # -- the REST API's behaviour ----------------------------------------------------------------

    def create_session(self, body: dict[str, Any]) -> dict[str, Any]:
        for name in ("game", "user_id", "username"):
            if not isinstance(body.get(name), str) or not body[name]:
                raise ApiError(400, "Bad Request", f"{name} is required")
        game = body["game"]
        if game not in self.settings.games:
            raise ApiError(404, "Game not found", f"There is no game {game!r}.")
        currency = body.get("currency") or "USD"
        balance_minor: int | None = None
        if body.get("balance") is not None:
            try:
                balance_minor = parse_minor(
                    body["balance"], str(currency), self.truth.currencies
                ).minor
            except (InvalidAmount, UnknownCurrency) as exc:
                raise ApiError(400, "Bad Request", f"balance: {exc}") from None
        minutes = body.get("expires_in_minutes") or self.settings.session_minutes
        if not isinstance(minutes, int) or minutes <= 0:
            raise ApiError(400, "Bad Request", "expires_in_minutes must be a positive integer")
        now = self.clock()
        token = secrets.token_hex(16)
        session = Session(
            token=token,
            user_id=body["user_id"],
            username=body["username"],
            game=game,
            currency=str(currency),
            created_at=now,
            expires_at=now + timedelta(minutes=minutes),
            extra_data=body.get("extra_data") if isinstance(body.get("extra_data"), str) else None,
        )
        self.truth.open_session(session, balance_minor)
        return {
            "game_url": f"{self.settings.game_base_url}/{game}/session/{token}",
            "session_id": token,
            "expires_at": _iso(session.expires_at),
        }

    def open_game_url(self, token: str) -> dict[str, Any]:
        session = self.truth.sessions.get(token)
        if session is None:
            raise ApiError(404, "Not found", "No such session.")
        if session.opened:
            raise ApiError(410, "Gone", "This game URL was already used; request a new one.")
        if session.expires_at <= self.clock():
            raise ApiError(410, "Gone", "This game URL has expired.")
        session.opened = True
        return {"session_token": token, "user_id": session.user_id, "game": session.game}

    def games(self) -> dict[str, Any]:
        return {
            "games": [{"slug": game, "name": game.capitalize()} for game in self.settings.games]
        }

    def session_transactions(self, token: str, page_number: int, page_size: int) -> dict[str, Any]:
        if token not in self.truth.sessions:
            raise ApiError(404, "Not found", "No such session.")
        rows = [self.truth.transaction_row(tx) for tx in self.truth.session_transactions(token)]
        page, pagination = _paginate(rows, page_number, page_size)
        return {"transactions": page, "pagination": pagination}

    def active_sessions(self, page_number: int, page_size: int) -> dict[str, Any]:
        now = self.clock()
        rows = [
            {
                "sessionId": s.token,
                "userId": s.user_id,
                "game": s.game,
                "currency": s.currency,
                "createdAt": _iso(s.created_at),
                "expiresAt": _iso(s.expires_at),
            }
            for s in self.truth.sessions.values()
            if s.expires_at > now
        ]
        page, pagination = _paginate(rows, page_number, page_size)
        return {"sessions": page, "pagination": pagination}

    def redeem_free_bet(self, body: dict[str, Any]) -> dict[str, Any]:
        for name in ("game_slug", "user_id", "currency", "expires_at"):
            if not isinstance(body.get(name), str) or not body[name]:
                raise ApiError(400, "Bad Request", f"{name} is required")
        quantity = body.get("quantity")
        if isinstance(quantity, str) and quantity.isdigit():
            quantity = int(quantity)
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
            raise ApiError(400, "Bad Request", "quantity must be a positive integer")
        try:
            value = parse_minor(body.get("value"), body["currency"], self.truth.currencies).minor
        except (InvalidAmount, UnknownCurrency) as exc:
            raise ApiError(400, "Bad Request", f"value: {exc}") from None
        if value <= 0:
            raise ApiError(400, "Bad Request", "value must be positive")
        if body["game_slug"] not in self.settings.games:
            raise ApiError(404, "Not found", f"There is no game {body['game_slug']!r}.")
        bonus = body.get("bonus_code")
        cap: int | None = None
        if body.get("max_multiplier") is not None:
            try:
                cap = int(
                    to_decimal(body["max_multiplier"]).scaleb(2).to_integral_value(ROUND_DOWN)
                )
            except InvalidAmount as exc:
                raise ApiError(400, "Bad Request", f"max_multiplier: {exc}") from None
            if cap <= 100:
                raise ApiError(400, "Bad Request", "max_multiplier must be above 1")
        self.truth.free_bets.append(
            FreeBetGrant(
                user_id=body["user_id"],
                game_slug=body["game_slug"],
                currency=body["currency"],
                quantity=quantity,
                value_minor=value,
                expires_at=body["expires_at"],
                bonus_code=bonus if isinstance(bonus, str) else None,
                max_multiplier_x100=cap,
            )
        )
        return {"free_bet": "New free bet created successfully."}

    # -- the game --------------------------------------------------------------------------------

    async def play(self, rounds: int) -> dict[str, Any]:
        await self.runner.play(rounds)
        return self.status()

    def play_in_background(self, rounds: int) -> bool:
        if self._background is not None and not self._background.done():
            return False
        self._background = asyncio.create_task(self.runner.play(rounds))
        return True

    def background_error(self) -> str | None:
        """Why the last background play stopped early, if it failed."""
        task = self._background
        if task is None or not task.done() or task.cancelled() or task.exception() is None:
            return None
        return repr(task.exception())

    def status(self) -> dict[str, Any]:
        runner = self.runner
        stats = runner.sender.stats
        p50, p99 = stats.percentile(0.50), stats.percentile(0.99)
        return {
            "rounds_played": runner.outcomes.rounds,
            "playing": self._background is not None and not self._background.done(),
            "webhooks_sent": stats.requests,
            "webhook_statuses": dict(stats.by_status),
            "latency_p50_ms": _millis(p50),
            "latency_p99_ms": _millis(p99),
            "outcomes": dict(runner.outcomes.counts),
            "faults": dict(self.truth.fault_counts),
            "sessions": len(self.truth.sessions),
            "generation": self.settings.generation.value,
            "error": self.background_error(),
        }

    def fairness(self) -> dict[str, Any]:
        return {
            **self.truth.fairness,
            "rounds": [
                {
                    "round_id": r.round_id,
                    "number": r.number,
                    "seed_hash": r.seed_hash,
                    "seed": r.seed,
                    "crash_point": None if r.crash_point is None else str(r.crash_point),
                }
                for r in self.truth.rounds.values()
            ],
        }

    def export(self) -> dict[str, Any]:
        """The truth, as JSON-ready values."""
        return {
            "seed": self.seed,
            "generation": self.settings.generation.value,
            **self.truth.export(),
        }


def _millis(seconds: float | None) -> Decimal | None:
    """Seconds as milliseconds with two decimals (JSON here never carries a float)."""
    return None if seconds is None else Decimal(f"{seconds * 1000:.2f}")


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _paginate(
    rows: list[dict[str, Any]], page_number: int, page_size: int
) -> tuple[list[Any], dict[str, int]]:
    total = len(rows)
    pages = (total + page_size - 1) // page_size
    start = (page_number - 1) * page_size
    return rows[start : start + page_size], {
        "pageSize": page_size,
        "pageNumber": page_number,
        "totalPages": pages,
        "totalItems": total,
    }
