"""One write per answer: ``CoalescingTransport`` joins a response's head and body."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from shared.http_server import CoalescingTransport


class RecordingTransport:
    """The part of a transport ``CoalescingTransport`` uses, recording each write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> Any:
        return {"peername": ("127.0.0.1", 5000)}.get(name)


def coalescing() -> tuple[CoalescingTransport, RecordingTransport]:
    recording = RecordingTransport()
    transport = CoalescingTransport(cast(asyncio.Transport, recording), asyncio.get_running_loop())
    return transport, recording


async def test_a_head_and_its_body_written_in_one_turn_leave_in_one_write() -> None:
    transport, recording = coalescing()

    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    transport.write(b"{}")
    await asyncio.sleep(0)

    assert recording.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]


async def test_a_lone_write_leaves_on_the_next_turn_of_the_loop() -> None:
    transport, recording = coalescing()

    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    held = list(recording.writes)
    await asyncio.sleep(0)

    assert held == []
    assert recording.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]


async def test_writes_keep_their_order_across_turns() -> None:
    transport, recording = coalescing()

    transport.write(b"a")
    transport.write(b"b")
    transport.write(b"c")
    await asyncio.sleep(0)
    transport.write(b"d")
    await asyncio.sleep(0)

    assert b"".join(recording.writes) == b"abcd"
    assert recording.writes == [b"ab", b"c", b"d"]


async def test_close_sends_what_is_held_first() -> None:
    transport, recording = coalescing()

    transport.write(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
    transport.close()
    await asyncio.sleep(0)

    assert recording.writes == [b"HTTP/1.1 408 Request Timeout\r\n\r\n"]
    assert recording.closed


async def test_everything_else_is_the_transports_own() -> None:
    transport, _ = coalescing()

    assert transport.get_extra_info("peername") == ("127.0.0.1", 5000)
