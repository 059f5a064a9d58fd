"""The status an ASGI app answered with, for middleware that reports it (metrics, traces)."""

from __future__ import annotations

from starlette.types import Message, Send


class ResponseStatus:
    """Wraps an ASGI ``send`` and keeps the response's status: 500 until a response starts."""

    __slots__ = ("_send", "status")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status = 500

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self._send(message)
