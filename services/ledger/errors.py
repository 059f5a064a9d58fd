"""What an error met while applying a batch means for its partition: the ledger's error classes.

* ``TRANSIENT``: the database or the broker is away or asked us to try again (connection lost or
  refused, admin or crash shutdown, a server still starting, failover, too many connections,
  serialization failures and deadlocks). The batch is retried, with capped exponential backoff
  and jitter, for as long as it takes; the partition is paused meanwhile, never stopped. Nothing
  is applied twice: each batch's offsets are stored in its own transaction.
* ``COMMAND``: a data exception (SQLSTATE class 22) or an integrity violation (class 23). It may
  be one command's own fault: the batch is applied again one command at a time, and a command
  that fails alone is answered with a stored 500 and dead-lettered (``services.ledger.consumer``).
* ``UNKNOWN``: anything else. The code does not understand it, so the partition stops, loudly,
  and the process reports itself not alive so that it is restarted.

Classes, never message texts: asyncpg raises one class per SQLSTATE.
"""

from __future__ import annotations

import random
from enum import StrEnum

import asyncpg
from aiokafka.errors import KafkaError

#: Transient SQLSTATEs outside class 08 (connection exceptions, all transient).
TRANSIENT_SQLSTATES = frozenset(
    {
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now (starting up, in recovery)
        "53300",  # too_many_connections
    }
)
#: SQLSTATE classes a single command can cause by itself.
COMMAND_CLASSES = frozenset({"22", "23"})

#: Backoff of the retries of a transient fault: the first waits about RETRY_BASE_S, each next one
#: twice as long, never more than RETRY_CAP_S (so the ledger applies again within about that long
#: once the database answers).
RETRY_BASE_S = 0.1
RETRY_CAP_S = 2.0


class Contended(RuntimeError):
    """Another writer moved a batch's offsets on every attempt (a zombie member still writing):
    transient, so the partition is retried after a backoff (``services.ledger.unit_of_work``)."""


class MissingDecision(RuntimeError):
    """A key is in ``idempotency_keys`` but its decision is not in the month the key names (the
    audit's ``key_has_its_decision``). Not a new key: deciding it again would refuse or
    dead-letter its redeliveries. Not understood, so the partition stops loudly."""


class ErrorClass(StrEnum):
    TRANSIENT = "transient"
    COMMAND = "command"
    UNKNOWN = "unknown"


def classify(exc: BaseException) -> ErrorClass:
    if isinstance(exc, Contended):
        return ErrorClass.TRANSIENT
    if isinstance(exc, asyncpg.PostgresError):
        state = exc.sqlstate or ""
        if state.startswith("08") or state in TRANSIENT_SQLSTATES:
            return ErrorClass.TRANSIENT
        if state[:2] in COMMAND_CLASSES:
            return ErrorClass.COMMAND
        return ErrorClass.UNKNOWN
    # A lost or refused connection: OSError covers ConnectionError and TimeoutError (a pool or a
    # connect that timed out); asyncpg raises InterfaceError on a connection closed under it.
    if isinstance(exc, OSError | asyncpg.InterfaceError):
        return ErrorClass.TRANSIENT
    if isinstance(exc, KafkaError) and exc.retriable:
        return ErrorClass.TRANSIENT
    return ErrorClass.UNKNOWN


def reason_of(exc: BaseException) -> str:
    """A short label for metrics and logs: the SQLSTATE when there is one, else the class name."""
    state = getattr(exc, "sqlstate", None)
    return str(state) if state else type(exc).__name__


def backoff_s(attempt: int, rng: random.Random) -> float:
    """The wait before retry ``attempt`` (1, 2, ...): capped exponential, with jitter (half to
    all of it, so partitions and replicas do not retry in step)."""
    ceiling: float = min(RETRY_CAP_S, RETRY_BASE_S * 2.0 ** min(attempt - 1, 30))
    return ceiling * (0.5 + rng.random() / 2)
