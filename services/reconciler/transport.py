"""A lean HTTP/1.1 keep-alive transport for httpx: asyncio protocols and the httptools parser.

The reconciler sends one request per page of Hypetech's session transactions, a million rows in
ten thousand requests; httpx's default transport (httpcore over anyio) costs several times the
CPU of the request itself. This transport keeps httpx's client, its timeouts and its exception
classes (``httpx.ConnectError``, ``ReadTimeout``, ``RemoteProtocolError``...: the Hypetech
client retries ``httpx.TransportError``), and does only what the reconciler's calls need:

* ``GET`` and ``POST`` (any method but ``HEAD``) over HTTP/1.1 with keep-alive, at most ``max_connections`` open, an idle connection reused first;
  a connection the server closed (or answered ``Connection: close`` on) is not reused;
* ``http`` and ``https`` (TLS verified with httpx's default context), no proxies, no HTTP/2;
* request bodies are sent whole (the client's bodies are small JSON documents); the response
  body is read whole and handed to httpx, which decodes its ``Content-Encoding``;
* a request on a reused connection that the server had already closed (no byte of an answer)
  is sent once more on a new connection when it is a ``GET``.

Timeouts come from httpx's request extensions: ``connect`` for opening a connection, ``pool``
for waiting for a free one, ``read`` for the longest silence while waiting for the answer.
"""

from __future__ import annotations

import asyncio
import ssl
from types import TracebackType
from typing import Self, cast

import httptools
import httpx

_DEFAULT_PORTS = {b"http": 80, b"https": 443}


class _Connection(asyncio.Protocol):
    """One TCP connection; one request at a time."""

    def __init__(self, key: tuple[bytes, bytes, int]) -> None:
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reused = False
        self._parser = httptools.HttpResponseParser(self)
        self._answer: asyncio.Future[None] | None = None
        self._silence: asyncio.TimerHandle | None = None
        self._read_timeout: float | None = None
        self._received = False
        self._reason = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._complete = False
        self._keep_alive = False
        self._status = 0
        self._failure: Exception | None = None

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)

    def data_received(self, data: bytes) -> None:
        self._received = True
        if self._answer is None or self._complete:
            # bytes nobody asked for: the connection is out of step, never reuse it
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"malformed HTTP answer: {exc}"))
            return
        if self._complete:
            self._settle()
        else:
            self._arm_silence()

    def eof_received(self) -> bool | None:
        self._on_close()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._on_close()

    # -- httptools callbacks ------------------------------------------------------------

    def on_status(self, status: bytes) -> None:
        self._reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._complete = True
        # asked here: once the message is over, the parser is ready for the next one
        self._keep_alive = self._parser.should_keep_alive()
        self._status = self._parser.get_status_code()

    # -- one exchange -------------------------------------------------------------------

    async def exchange(
        self, head: bytes, body: bytes, read_timeout: float | None
    ) -> httpx.Response:
        if self.transport is None or self.closed:
            raise httpx.RemoteProtocolError("the connection is closed")
        loop = asyncio.get_running_loop()
        self._answer = loop.create_future()
        self._read_timeout = read_timeout
        self._received = False
        self._reason = b""
        self._headers = []
        self._body = []
        self._complete = False
        self._failure = None
        self.transport.write(head + body)
        self._arm_silence()
        try:
            await self._answer
        finally:
            self._disarm_silence()
            self._answer = None
        if self._failure is not None:
            raise self._failure
        if not self._keep_alive:
            self.close()
        return httpx.Response(
            self._status,
            headers=self._headers,
            stream=httpx.ByteStream(b"".join(self._body)),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": self._reason},
        )

    @property
    def received_nothing(self) -> bool:
        return not self._received

    def _arm_silence(self) -> None:
        self._disarm_silence()
        if self._read_timeout is not None:
            loop = asyncio.get_running_loop()
            self._silence = loop.call_later(self._read_timeout, self._timed_out)

    def _disarm_silence(self) -> None:
        if self._silence is not None:
            self._silence.cancel()
            self._silence = None

    def _timed_out(self) -> None:
        self._fail(httpx.ReadTimeout("no answer within the read timeout"))

    def _settle(self) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(None)

    def _fail(self, failure: Exception) -> None:
        self._failure = failure
        self.close()
        self._settle()

    def _on_close(self) -> None:
        self.closed = True
        if self._answer is not None and not self._complete and self._failure is None:
            self._fail(httpx.RemoteProtocolError("the server closed the connection mid-answer"))

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class KeepAliveTransport(httpx.AsyncBaseTransport):
    def __init__(
        self, *, max_connections: int = 10, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[_Connection] = []
        self._ssl = ssl_context
        self._closed = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.aclose()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise httpx.ConnectError("the transport is closed", request=request)
        if request.method == "HEAD":
            raise httpx.UnsupportedProtocol("HEAD is not sent through this transport")
        timeouts = request.extensions.get("timeout", {})
        url = request.url
        key = (url.raw_scheme, url.raw_host, url.port or _DEFAULT_PORTS.get(url.raw_scheme, 80))
        head = _head(request)
        body = await request.aread()
        try:
            async with asyncio.timeout(timeouts.get("pool")):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("no free connection within the pool timeout") from None
        try:
            connection = await self._connection(key, timeouts.get("connect"), request)
            try:
                response = await connection.exchange(head, body, timeouts.get("read"))
            except httpx.RemoteProtocolError:
                if not (
                    connection.reused and connection.received_nothing and request.method == "GET"
                ):
                    raise
                # the server had closed this idle connection: once more on a new one
                connection = await self._open(key, timeouts.get("connect"), request)
                response = await connection.exchange(head, body, timeouts.get("read"))
            except BaseException:
                connection.close()
                raise
            if not connection.closed:
                connection.reused = True
                self._idle.append(connection)
            return response
        finally:
            self._slots.release()

    async def aclose(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().close()

    async def _connection(
        self, key: tuple[bytes, bytes, int], connect_timeout: float | None, request: httpx.Request
    ) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            if connection.key == key and not connection.closed:
                return connection
            connection.close()
        return await self._open(key, connect_timeout, request)

    async def _open(
        self, key: tuple[bytes, bytes, int], connect_timeout: float | None, request: httpx.Request
    ) -> _Connection:
        scheme, host, port = key
        context: ssl.SSLContext | None = None
        if scheme == b"https":
            context = self._ssl if self._ssl is not None else httpx.create_ssl_context()
            self._ssl = context
        elif scheme != b"http":
            raise httpx.UnsupportedProtocol(f"{scheme.decode()!r} is not supported here")
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(key),
                    host.decode("ascii"),
                    port,
                    ssl=context,
                    server_hostname=host.decode("ascii") if context is not None else None,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout("no connection within the connect timeout") from None
        except OSError as exc:
            raise httpx.ConnectError(str(exc)) from exc
        return connection


def _head(request: httpx.Request) -> bytes:
    lines = [request.method.encode("ascii"), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
    for name, value in request.headers.raw:
        lines += [name, b": ", value, b"\r\n"]
    lines.append(b"\r\n")
    return b"".join(lines)
