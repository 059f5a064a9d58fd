"""Async client for Hypetech's REST API (the calls the operator makes).

Every request has a timeout. Timeouts, connection errors and 5xx answers are retried with
exponential backoff and jitter, up to ``max_retries`` times; 4xx answers are never retried.
Errors of either documented shape (``status`` or ``statusCode``) become ``HypetechApiError``.
Sleep and randomness are injected, so tests run the retry path without waiting.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Final, Self, TypeVar
from urllib.parse import quote

import httpx
from opentelemetry.trace import SpanKind
from pydantic import BaseModel, TypeAdapter, ValidationError

from shared import tracing
from shared.hypetech.errors import (
    HypetechApiError,
    HypetechResponseInvalid,
    HypetechUnavailable,
    parse_error,
)
from shared.hypetech.models import (
    ActiveSession,
    ActiveSessionsPage,
    CreateSessionRequest,
    CreateSessionResponse,
    FreeBetRequest,
    FreeBetResponse,
    Game,
    SessionTransaction,
    TransactionsPage,
)
from shared.hypetech.retry import Backoff
from shared.hypetech.settings import HypetechClientSettings
from shared.hypetech.wire import dumps_rest
from shared.jsonwire import MalformedJson, loads_exact

M = TypeVar("M", bound=BaseModel)
Sleep = Callable[[float], Awaitable[None]]

#: Path of Active Sessions. Hypetech's page is not public; this is the simulator's path.
ACTIVE_SESSIONS_PATH = "/sessions/active"
GAMES_PATH = "/games"


class HypetechClient:
    """One client per process; use as ``async with HypetechClient(...) as client``."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str | None,
        timeout_s: float = 5.0,
        max_retries: int = 3,
        backoff: Backoff | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
        )
        self._max_retries = max_retries
        self._backoff = backoff or Backoff()
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self.attempts = 0
        """Requests sent so far, retries included (tests and metrics read it)."""

    @classmethod
    def from_settings(cls, settings: HypetechClientSettings, **overrides: Any) -> HypetechClient:
        token = settings.hypetech_api_token
        kwargs: dict[str, Any] = {
            "base_url": settings.hypetech_base_url,
            "token": token.get_secret_value() if token is not None else None,
            "timeout_s": settings.hypetech_timeout_s,
            "max_retries": settings.hypetech_max_retries,
        }
        kwargs.update(overrides)
        return cls(**kwargs)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- the documented calls -------------------------------------------------------------

    async def create_session(self, request: CreateSessionRequest) -> CreateSessionResponse:
        """``POST /games/request-access``: a single-use game URL whose last segment is the token."""
        body = await self._call("POST", "/games/request-access", json_body=request.to_body())
        return _model(CreateSessionResponse, body)

    async def list_games(self) -> list[Game]:
        """Get Game List. Accepts a bare list or an object holding ``games`` / ``data``."""
        body = await self._call("GET", GAMES_PATH)
        rows = body
        if isinstance(body, dict):
            rows = body.get("games", body.get("data", []))
        if not isinstance(rows, list):
            raise HypetechResponseInvalid("the game list is not a list")
        return [_model(Game, row) for row in rows]

    async def transactions_page(
        self, session_id: str, *, page_number: int = 1, page_size: int = 100
    ) -> TransactionsPage:
        """One page of ``GET /sessions/{sessionId}/transactions`` (pages start at 1)."""
        response = await self._request(
            "GET",
            f"/sessions/{_segment(session_id)}/transactions",
            params={"pageSize": page_size, "pageNumber": page_number},
        )
        return parse_transactions_page(response.content)

    async def session_transactions(
        self, session_id: str, *, page_size: int = 100
    ) -> AsyncIterator[SessionTransaction]:
        """Every transaction of a session, page after page until ``totalPages``."""
        page_number = 1
        while True:
            page = await self.transactions_page(
                session_id, page_number=page_number, page_size=page_size
            )
            for row in page.transactions:
                yield row
            if page_number >= page.pagination.total_pages or not page.transactions:
                return
            page_number += 1

    async def active_sessions_page(
        self, *, page_number: int = 1, page_size: int = 100
    ) -> ActiveSessionsPage:
        body = await self._call(
            "GET", ACTIVE_SESSIONS_PATH, params={"pageSize": page_size, "pageNumber": page_number}
        )
        return _model(ActiveSessionsPage, body)

    async def active_sessions(self, *, page_size: int = 100) -> AsyncIterator[ActiveSession]:
        """Every active session, page after page."""
        page_number = 1
        while True:
            page = await self.active_sessions_page(page_number=page_number, page_size=page_size)
            for row in page.sessions:
                yield row
            if page_number >= page.pagination.total_pages or not page.sessions:
                return
            page_number += 1

    async def redeem_free_bet(self, request: FreeBetRequest) -> FreeBetResponse:
        """``POST /games/free-bets`` (answers 201)."""
        body = await self._call("POST", "/games/free-bets", json_body=request.to_body())
        return _model(FreeBetResponse, body if isinstance(body, dict) else {"free_bet": body})

    # -- transport ------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Mapping[str, Any] | None = None,
    ) -> Any:
        """The answer's JSON, parsed with exact numbers (``{}`` for an empty body)."""
        response = await self._request(method, path, params=params, json_body=json_body)
        return _parse_ok(response.content)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """A successful answer, after the retries (one client span around them all);
        ``HypetechApiError`` or ``HypetechUnavailable`` otherwise."""
        content = None if json_body is None else dumps_rest(dict(json_body)).encode()
        headers = {"Content-Type": "application/json"} if content is not None else {}
        attributes = {"http.request.method": method, "url.path": path}
        with tracing.outgoing(f"hypetech {method}", SpanKind.CLIENT, attributes) as carrier:
            return await self._attempts(method, path, params, content, headers | carrier)

    async def _attempts(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        content: bytes | None,
        headers: dict[str, str],
    ) -> httpx.Response:
        """Send the request, again on a transport error or a retryable answer, within bounds."""
        retry = 0
        while True:
            self.attempts += 1
            last_status: int | None = None
            try:
                response = await self._http.request(
                    method, path, params=dict(params or {}), content=content, headers=headers
                )
            except httpx.TransportError as exc:
                failure: str = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 400:
                    return response
                error = parse_error(response.status_code, response.content, response.reason_phrase)
                if not error.retryable:
                    raise error
                last_status = response.status_code
                failure = str(error)
            if retry >= self._max_retries:
                raise HypetechUnavailable(
                    f"{method} {path} failed after {retry + 1} attempts: {failure}",
                    attempts=retry + 1,
                    last_status=last_status,
                )
            retry += 1
            await self._sleep(self._backoff.delay(retry, self._rng))


def _segment(value: str) -> str:
    return quote(value, safe="")


def _parse_ok(content: bytes) -> Any:
    if not content:
        return {}
    try:
        return loads_exact(content)
    except MalformedJson as exc:
        raise HypetechResponseInvalid(f"the answer is not JSON: {exc}") from exc


_TRANSACTIONS_PAGE: Final = TypeAdapter(TransactionsPage)
#: pydantic's JSON parser reads a number with a fraction or an exponent through a binary float
#: (pydantic-core issue 1688): that keeps the value of a number of at most 15 significant digits
#: written without an exponent (at most 16 digits and dots in a row), and of nothing longer; and
#: it reads ``NaN`` and ``Infinity``, which are not JSON. With every digit and dot written as
#: ``0``, a page holds none of these when it holds none of the texts below (a C-speed scan).
_AS_ZEROS: Final = bytes.maketrans(b"0123456789.", b"0" * 11)
_NOT_FLOAT_EXACT: Final = (b"0" * 17, b"0e", b"0E", b"NaN", b"Infinity")


def _float_exact(raw: bytes) -> bool:
    """True when binary floats read every number of ``raw`` exactly (and it holds no ``NaN``)."""
    zeros = raw.translate(_AS_ZEROS)
    return not any(text in zeros for text in _NOT_FLOAT_EXACT)


def parse_transactions_page(raw: bytes) -> TransactionsPage:
    """A page of session transactions validated from its JSON bytes, with exact amounts, or
    ``HypetechResponseInvalid``.

    A reconciliation run reads a million rows: pydantic parses and validates each page in one
    pass. A page that holds a number a binary float could change (or bytes that only look like
    one) is parsed exactly first, then validated by the same model."""
    if raw and _float_exact(raw):
        try:
            return _TRANSACTIONS_PAGE.validate_json(raw)
        except ValidationError as exc:
            if all(error["type"] != "json_invalid" for error in exc.errors()):
                raise HypetechResponseInvalid(f"unexpected TransactionsPage shape: {exc}") from exc
            # not JSON: the exact parser below says so, as for every other answer
    return _model(TransactionsPage, _parse_ok(raw))


def _model(model: type[M], body: Any) -> M:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise HypetechResponseInvalid(f"unexpected {model.__name__} shape: {exc}") from exc


__all__ = ["HypetechApiError", "HypetechClient", "HypetechUnavailable"]
