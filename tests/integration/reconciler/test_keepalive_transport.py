"""The reconciler's HTTP transport against real sockets: keep-alive, the server's own closes,
chunked answers, and every failure as the httpx exception the Hypetech client retries."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from services.reconciler.transport import KeepAliveTransport
from shared.infra.processes import free_port

pytestmark = pytest.mark.integration

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def server(handler: Handler) -> AsyncIterator[tuple[str, list[int]]]:
    """A raw HTTP server on 127.0.0.1; yields its URL and, per connection, the requests read."""
    connections: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(0)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    listening = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", connections
    finally:
        listening.close()
        await listening.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + await reader.readexactly(length)


def answer(body: bytes, *, status: bytes = b"200 OK", extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body
    )


def client(url: str, *, timeout_s: float = 2.0, connections: int = 2) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=url,
        transport=KeepAliveTransport(max_connections=connections),
        timeout=httpx.Timeout(timeout_s),
    )


async def test_requests_share_one_kept_alive_connection_and_bodies_arrive_whole() -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                seen.append(await read_request(reader))
            except asyncio.IncompleteReadError:
                return
            writer.write(answer(b'{"n":%d}' % len(seen)))

    async with server(handler) as (url, connections), client(url) as http:
        first = await http.get("/sessions/a/transactions", params={"pageSize": 100})
        second = await http.post("/games/free-bets", content=b'{"quantity":"1"}')

    assert (first.status_code, first.json(), second.json()) == (200, {"n": 1}, {"n": 2})
    assert first.reason_phrase == "OK"
    assert len(connections) == 1
    assert seen[0].startswith(b"GET /sessions/a/transactions?pageSize=100 HTTP/1.1\r\n")
    assert seen[1].endswith(b'\r\n\r\n{"quantity":"1"}')


async def test_a_chunked_answer_is_read_to_its_end() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(b'5\r\n{"sta\r\n')
        await writer.drain()
        writer.write(b'9\r\ntus":503}\r\n0\r\n\r\n')
        await reader.read()

    async with server(handler) as (url, _), client(url) as http:
        response = await http.get("/x")

    assert (response.status_code, response.json()) == (503, {"status": 503})


async def test_a_connection_the_server_closes_after_answering_is_not_reused() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(b"{}", extra=b"Connection: close\r\n"))

    async with server(handler) as (url, connections), client(url) as http:
        statuses = [(await http.get("/x")).status_code for _ in range(3)]

    assert statuses == [200, 200, 200]
    assert len(connections) == 3


async def test_a_get_on_an_idle_connection_the_server_dropped_is_sent_again_on_a_new_one() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(b"{}"))
        await writer.drain()
        # keep-alive promised, but the connection is dropped without a word

    async with server(handler) as (url, connections), client(url) as http:
        first = await http.get("/x")
        await asyncio.sleep(0.05)
        second = await http.get("/x")

    assert (first.status_code, second.status_code) == (200, 200)
    assert len(connections) == 2


async def test_a_server_that_stays_silent_is_a_read_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    async with server(handler) as (url, _), client(url, timeout_s=0.2) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get("/x")


async def test_an_answer_cut_short_is_a_remote_protocol_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(b'{"transactions":[]}')[:-5])

    async with server(handler) as (url, _), client(url) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get("/x")


async def test_garbage_instead_of_http_is_a_remote_protocol_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        await reader.read()

    async with server(handler) as (url, _), client(url) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get("/x")


async def test_nobody_listening_is_a_connect_error() -> None:
    async with client(f"http://127.0.0.1:{free_port()}") as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("/x")


async def test_no_more_connections_than_allowed_are_opened() -> None:
    in_flight = 0
    most = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal in_flight, most
        while True:
            try:
                await read_request(reader)
            except asyncio.IncompleteReadError:
                return
            in_flight += 1
            most = max(most, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1
            writer.write(answer(b"{}"))

    async with server(handler) as (url, connections), client(url, connections=3) as http:
        statuses = await asyncio.gather(*(http.get(f"/x/{i}") for i in range(30)))

    assert {r.status_code for r in statuses} == {200}
    assert most <= 3
    assert len(connections) <= 3
