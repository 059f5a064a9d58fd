"""The demo's live progress: drawn on a terminal, nothing when its output is piped."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import pytest
from rich.console import Console

from services.demo.run import play


def simulator() -> httpx.AsyncClient:
    """The simulator's play and status routes, answering a game of 2 rounds that is done."""
    status: dict[str, Any] = {"playing": False, "rounds_played": 2, "webhooks_sent": 7}

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/_sim/play":
            return httpx.Response(202, json={**status, "playing": True, "rounds_played": 0})
        return httpx.Response(200, content=json.dumps(status))

    return httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://sim")


@pytest.mark.parametrize(("terminal", "drawn"), [(True, True), (False, False)])
async def test_draws_the_play_progress_only_on_a_terminal(terminal: bool, drawn: bool) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=100)

    async with simulator() as sim:
        status = await play(sim, 2, console)

    assert status["rounds_played"] == 2
    assert ("rounds" in out.getvalue()) is drawn
