"""Every HTTP server bounds how long a request may take to arrive, idle connections and load.

A real uvicorn on 127.0.0.1, driven over raw sockets: a client that trickles its headers or its
body, or connects and says nothing, is answered 408 and closed within the bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.ingress.app import server_of as ingress_server
from services.ingress.settings import IngressSettings
from services.operator_api.app import server_of as operator_api_server
from services.operator_api.settings import OperatorApiSettings
from services.simulator.app import create_app as create_simulator
from services.simulator.serve import running
from services.simulator.serve import server_of as simulator_server
from services.simulator.settings import SimulatorSettings
from shared.http_server import DeadlineHttpToolsProtocol, server_config, serving
from shared.settings import HttpServerLimits

BOUND_S = 0.5
SLACK_S = 1.5
LIMITS = HttpServerLimits(http_request_timeout_s=BOUND_S, http_keep_alive_s=1)


async def _echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"received": len(body)})


async def _slow(request: Request) -> JSONResponse:
    await asyncio.sleep(BOUND_S * 2)
    return JSONResponse({"slow": True})


async def _early(request: Request) -> JSONResponse:
    return JSONResponse({"early": True})  # answers without reading the body


def _app() -> Starlette:
    return Starlette(
        routes=[
            Route("/echo", _echo, methods=["POST"]),
            Route("/slow", _slow, methods=["GET"]),
            Route("/early", _early, methods=["POST"]),
        ]
    )


@pytest.fixture
async def base(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, int]]:
    limits = getattr(request, "param", LIMITS)
    config = server_config(_app(), limits, host="127.0.0.1", port=0, log_level="warning")
    async with serving(config) as url:
        host, _, port = url.removeprefix("http://").partition(":")
        yield host, int(port)


async def _read_until_closed(reader: asyncio.StreamReader, within_s: float) -> bytes:
    """Everything the server sends until it closes (a reset after its answer ends it too)."""
    chunks: list[bytes] = []

    async def read_all() -> None:
        while chunk := await reader.read(65536):
            chunks.append(chunk)

    with contextlib.suppress(ConnectionResetError):
        await asyncio.wait_for(read_all(), timeout=within_s)
    return b"".join(chunks)


async def _trickle(
    address: tuple[str, int], pieces: list[bytes], pause_s: float
) -> tuple[bytes, float]:
    """Send ``pieces`` one per ``pause_s`` until the server closes; its answer and when."""
    reader, writer = await asyncio.open_connection(*address)
    started = time.monotonic()
    answer = asyncio.create_task(_read_until_closed(reader, BOUND_S + SLACK_S * 2))
    try:
        for piece in pieces:
            if answer.done():
                break
            try:
                writer.write(piece)
                await writer.drain()
            except ConnectionError:
                break
            await asyncio.sleep(pause_s)
        received = await answer
    finally:
        writer.close()
    return received, time.monotonic() - started


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def _problem(answer: bytes) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(answer.partition(b"\r\n\r\n")[2])
    return body


async def test_headers_trickled_past_the_bound_get_408_and_a_closed_connection(
    base: tuple[str, int],
) -> None:
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nX-Slow: " + b"a" * 100

    answer, took = await _trickle(base, [bytes([byte]) for byte in head], pause_s=0.05)

    assert _status(answer) == 408
    assert _problem(answer)["type"].endswith("/request-timeout")
    assert took < BOUND_S + SLACK_S


async def test_a_body_trickled_past_the_bound_gets_408_and_a_closed_connection(
    base: tuple[str, int],
) -> None:
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"

    answer, took = await _trickle(base, [head] + [b"x"] * 100, pause_s=0.05)

    assert _status(answer) == 408
    assert took < BOUND_S + SLACK_S


async def test_a_connection_that_says_nothing_is_closed_within_the_bound(
    base: tuple[str, int],
) -> None:
    answer, took = await _trickle(base, [], pause_s=0)

    assert _status(answer) == 408
    assert took < BOUND_S + SLACK_S


async def test_requests_that_arrive_whole_are_answered_however_long_the_connection_lives(
    base: tuple[str, int],
) -> None:
    reader, writer = await asyncio.open_connection(*base)
    answers = []
    try:
        for _ in range(3):
            writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
            await writer.drain()
            answers.append(await asyncio.wait_for(reader.readuntil(b'{"received":2}'), 2))
            await asyncio.sleep(BOUND_S * 0.8)  # three of these outlast one bound
    finally:
        writer.close()

    assert [_status(answer) for answer in answers] == [200, 200, 200]


async def test_an_answer_given_before_the_body_arrived_is_not_followed_by_a_408(
    base: tuple[str, int],
) -> None:
    head = b"POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"

    answer, took = await _trickle(base, [head] + [b"x"] * 100, pause_s=0.05)

    assert [_status(answer)] == [200]
    assert answer.count(b"HTTP/1.1") == 1
    assert took < BOUND_S * 2 + SLACK_S


async def test_the_bound_is_on_arrival_not_on_the_answer(base: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*base)
    try:
        writer.write(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.readuntil(b'{"slow":true}'), BOUND_S * 4)
    finally:
        writer.close()

    assert _status(answer) == 200


async def test_an_idle_keep_alive_connection_is_closed(base: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*base)
    try:
        writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        await asyncio.wait_for(reader.readuntil(b'{"received":2}'), 2)
        started = time.monotonic()
        rest = await _read_until_closed(reader, LIMITS.http_keep_alive_s + SLACK_S)
    finally:
        writer.close()

    assert rest == b""
    assert time.monotonic() - started < LIMITS.http_keep_alive_s + SLACK_S


@pytest.mark.parametrize(
    "base", [HttpServerLimits(http_request_timeout_s=5, http_max_concurrency=3)], indirect=True
)
async def test_connections_beyond_the_limit_are_answered_503(base: tuple[str, int]) -> None:
    held = [await asyncio.open_connection(*base) for _ in range(3)]
    try:
        answer, _ = await _trickle(base, [b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"], pause_s=0)
    finally:
        for _, writer in held:
            writer.close()

    assert _status(answer) == 503


async def test_the_simulator_closes_a_trickled_request_within_its_bound() -> None:
    token = "t" * 32
    app = create_simulator(SimulatorSettings(api_token=token))
    async with running(app, limits=LIMITS) as url:
        host, _, port = url.removeprefix("http://").partition(":")
        head = (
            b"POST /games/request-access HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\n\r\n{"
        )

        answer, took = await _trickle((host, int(port)), [head] + [b" "] * 50, pause_s=0.05)

    assert _status(answer) == 408
    assert took < BOUND_S + SLACK_S


SERVERS: dict[str, Callable[[], Any]] = {
    "ingress": lambda: ingress_server(IngressSettings(environment="test", **LIMITS.model_dump())),
    "operator-api": lambda: operator_api_server(
        OperatorApiSettings(environment="test", **LIMITS.model_dump())
    ),
    "simulator": lambda: simulator_server(SimulatorSettings(**LIMITS.model_dump())),
}


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_every_service_serves_with_the_deadline_and_its_limits(name: str) -> None:
    config = SERVERS[name]()

    assert config.http is DeadlineHttpToolsProtocol
    assert config.request_timeout_s == BOUND_S
    assert config.timeout_keep_alive == LIMITS.http_keep_alive_s
    assert config.limit_concurrency == LIMITS.http_max_concurrency
