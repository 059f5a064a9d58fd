"""Fault injection for crash tests: kill this process at a named point of the batch cycle.

``HYPELEDGER_LEDGER_FAULT=<point>:<n>`` makes the n-th time the ledger reaches ``<point>`` end the
process with SIGKILL (no cleanup, no flush: as a power cut would). Points:

* ``mid_batch``: inside the batch transaction, after every write, before the commit; for a
  batch applied without a lock, after deciding, before the one statement that writes it.
* ``after_db_commit``: after the database commit, before any reply and the Kafka offset commit.

Unset (the default) it does nothing. It is armed only where ``HYPELEDGER_ENVIRONMENT`` is
``development`` or ``test``: in production the variable is ignored, and the start says so.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping

from shared.logs import get_logger
from shared.settings import Environment

FAULT_ENV = "HYPELEDGER_LEDGER_FAULT"
POINTS = frozenset({"mid_batch", "after_db_commit"})
ARMED_IN = frozenset({Environment.DEVELOPMENT, Environment.TEST})


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

    @property
    def armed(self) -> bool:
        return self._point is not None

    @classmethod
    def from_env(cls, environment: Environment, environ: Mapping[str, str] | None = None) -> Faults:
        """The faults ``HYPELEDGER_LEDGER_FAULT`` asks for, or none outside development and test."""
        spec = (os.environ if environ is None else environ).get(FAULT_ENV)
        log = get_logger("hypeledger.ledger.faults")
        if not spec:
            return cls()
        if environment not in ARMED_IN:
            log.warning("ledger.faults.ignored", variable=FAULT_ENV, environment=str(environment))
            return cls()
        faults = cls(spec)
        log.warning("ledger.faults.armed", fault=spec, environment=str(environment))
        return faults

    def reach(self, point: str) -> None:
        if point != self._point:
            return
        self._remaining -= 1
        if self._remaining <= 0:
            os.kill(os.getpid(), signal.SIGKILL)
