"""Fault injection for crash tests: kill this process at a named point of the batch cycle.

``HYPELEDGER_LEDGER_FAULT=<point>:<n>`` makes the n-th time the ledger reaches ``<point>`` end the
process with SIGKILL (no cleanup, no flush: as a power cut would). Points:

* ``mid_batch``: inside the batch transaction, after every write, before the commit; for a
  batch applied without a lock, after deciding, before the one statement that writes it.
* ``after_db_commit``: after the database commit, before any reply and the Kafka offset commit.

Unset (the default, and always in production) it does nothing.
"""

from __future__ import annotations

import os
import signal

FAULT_ENV = "HYPELEDGER_LEDGER_FAULT"
POINTS = frozenset({"mid_batch", "after_db_commit"})


class Faults:
    def __init__(self, spec: str | None = None) -> None:
        self._point: str | None = None
        self._remaining = 0
        if spec:
            point, _, count = spec.partition(":")
            if point not in POINTS:
                raise ValueError(f"{FAULT_ENV}: unknown point {point!r} (known: {sorted(POINTS)})")
            self._point = point
            self._remaining = int(count or "1")

    @classmethod
    def from_env(cls) -> Faults:
        return cls(os.environ.get(FAULT_ENV))

    def reach(self, point: str) -> None:
        if point != self._point:
            return
        self._remaining -= 1
        if self._remaining <= 0:
            os.kill(os.getpid(), signal.SIGKILL)
