"""uvicorn with the bounds every hypeledger HTTP server keeps, and one write per answer.

uvicorn closes an idle keep-alive connection (``timeout_keep_alive``) and answers 503 beyond
``limit_concurrency`` connections or tasks, but once a request's first byte has arrived it waits
for the rest for ever: a client that trickles its headers or body a byte at a time holds a
connection (and, in numbers, the server) as long as it likes. ``DeadlineHttpToolsProtocol`` adds
the missing bound: a request must arrive whole (request line, headers and body) within
``request_timeout_s`` of its first byte, and a new connection must bring its first request whole
within that time of connecting. Past the bound the connection gets a 408 problem, if no answer has
begun, and is closed.

``shared.settings.HttpServerLimits`` holds the settings; ``server_config`` turns them into a uvicorn ``Config``;
``run`` serves it (one process, or ``workers`` processes on one socket) and ``serving`` runs it
inside the current event loop (tests, the demo).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState
from uvicorn.supervisors import Multiprocess

from shared.contracts.problems import PROBLEM_CONTENT_TYPE, problem
from shared.settings import HttpServerLimits

#: uvicorn's exit status when a single-process server did not start.
STARTUP_FAILURE = 3


class HttpServerConfig(uvicorn.Config):
    """A uvicorn ``Config`` that also carries the whole-request deadline."""

    def __init__(self, app: Any, *, request_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.request_timeout_s = request_timeout_s


def _timeout_response(seconds: float) -> bytes:
    body = json.dumps(
        problem("request-timeout", f"the request did not arrive whole within {seconds:g} s")
    ).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        f"content-type: {PROBLEM_CONTENT_TYPE}\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class CoalescingTransport:
    """A connection's transport that sends an answer's head and body in one write.

    uvicorn writes a response's status line and headers when the app sends
    ``http.response.start`` and the body when it sends ``http.response.body``: two system calls
    per answer, which on the ingress's hot path cost about as much as all of its logging. A write
    is held here until the next write joins it, or until the event loop's next turn sends it
    alone; an app that sends head and body one after the other (every hypeledger answer) makes
    one system call. ``close`` sends what is held first; everything else is the transport's own.
    """

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + bytes(data))
        else:
            self._held = bytes(data)
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Send what is held, if anything."""
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class DeadlineHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on each request's arrival."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.request_timeout_s: float = getattr(
            config, "request_timeout_s", HttpServerLimits().http_request_timeout_s
        )
        self._deadline: asyncio.TimerHandle | None = None
        self._armed_during: object = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
        self._arm()

    def data_received(self, data: bytes) -> None:
        self._arm()
        super().data_received(data)
        cycle = self.cycle
        if (
            cycle is not None
            and cycle is not self._armed_during
            and (not cycle.more_body or cycle.response_complete)
        ):
            self._disarm()  # a new request arrived whole (or was answered before it did)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._deadline is None:
            self._armed_during = self.cycle
            self._deadline = self.loop.call_later(self.request_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is self._armed_during:
            # Still the request before: either a new request's head is coming (408), or the rest
            # of a body whose request was answered early (the answer stands; just close).
            unanswered = cycle is None or not cycle.more_body
        else:
            unanswered = not cycle.response_started  # its body is still coming
        if unanswered:
            self.transport.write(_timeout_response(self.request_timeout_s))
        self.transport.close()


def server_config(
    app: Any, limits: HttpServerLimits, *, host: str, port: int, **kwargs: Any
) -> HttpServerConfig:
    """uvicorn's configuration of ``app`` on ``host:port`` with ``limits``; uvicorn's own log
    configuration is off, so its lines go through structlog like every other library's."""
    kwargs.setdefault("log_config", None)
    return HttpServerConfig(
        app,
        host=host,
        port=port,
        http=DeadlineHttpToolsProtocol,
        request_timeout_s=limits.http_request_timeout_s,
        timeout_keep_alive=limits.http_keep_alive_s,
        limit_concurrency=limits.http_max_concurrency,
        **kwargs,
    )


def run(config: HttpServerConfig) -> None:
    """Serve until SIGTERM or SIGINT, as ``uvicorn.run`` does (``workers`` > 1: one socket)."""
    server = uvicorn.Server(config)
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)


@contextlib.asynccontextmanager
async def serving(config: HttpServerConfig) -> AsyncIterator[str]:
    """Serve ``config`` inside the running event loop; yields its base URL (port 0: a free one)."""
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if not server.started:
            raise RuntimeError("the server did not start within 5 s")
        bound = server.servers[0].sockets[0].getsockname()
        yield f"http://{config.host}:{bound[1]}"
    finally:
        server.should_exit = True
        await task
