"""Helpers of the Hypetech client's tests: the token, a live simulator, a sleep that only records."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.simulator.simulator import Simulator

TOKEN = "client-test-token"


@dataclass
class RecordedSleep:
    delays: list[float] = field(default_factory=list)

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@dataclass
class LiveSimulator:
    base_url: str
    sim: Simulator
