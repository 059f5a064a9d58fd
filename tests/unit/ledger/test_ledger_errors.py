"""Errors are handled by class: what is transient is retried, what one command causes is isolated,
and only what the code does not understand stops a partition."""

from __future__ import annotations

import random

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError

from services.ledger.errors import (
    RETRY_CAP_S,
    Contended,
    ErrorClass,
    backoff_s,
    classify,
    reason_of,
)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.ConnectionFailureError("connection failure"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.CrashShutdownError("crash shutdown"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.SerializationError("could not serialize access"),
        asyncpg.DeadlockDetectedError("deadlock detected"),
        asyncpg.TooManyConnectionsError("too many clients"),
        ConnectionRefusedError(111, "Connection refused"),
        ConnectionResetError(104, "Connection reset by peer"),
        TimeoutError(),
        asyncpg.InterfaceError("cannot perform operation: connection is closed"),
        KafkaConnectionError("broker away"),
        Contended("offsets of partitions [3] kept moving under the batch"),
    ],
)
def test_retries_what_a_lost_or_restarting_database_or_broker_raises(error: Exception) -> None:
    assert classify(error) is ErrorClass.TRANSIENT


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.NumericValueOutOfRangeError("bigint out of range"),
        asyncpg.CharacterNotInRepertoireError("invalid byte sequence"),
        asyncpg.CheckViolationError("violates check constraint"),
        asyncpg.UniqueViolationError("duplicate key value"),
    ],
)
def test_isolates_what_one_command_can_cause_on_its_own(error: Exception) -> None:
    assert classify(error) is ErrorClass.COMMAND


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.UndefinedTableError("relation does not exist"),
        asyncpg.RaiseError("raised by a trigger"),
        asyncpg.InsufficientPrivilegeError("permission denied"),
        KeyError("a bug"),
        AssertionError("a bug"),
        TopicAuthorizationFailedError(),
    ],
)
def test_stops_on_what_the_code_does_not_understand(error: Exception) -> None:
    assert classify(error) is ErrorClass.UNKNOWN


def test_names_a_database_error_by_its_sqlstate_and_others_by_their_class() -> None:
    assert reason_of(asyncpg.AdminShutdownError("x")) == "57P01"
    assert reason_of(ConnectionRefusedError()) == "ConnectionRefusedError"


def test_backs_off_exponentially_with_jitter_up_to_a_cap() -> None:
    rng = random.Random(7)

    waits = [backoff_s(attempt, rng) for attempt in range(1, 40)]

    assert 0.05 <= waits[0] <= 0.1
    assert 0.1 <= waits[1] <= 0.2
    assert all(RETRY_CAP_S / 2 <= wait <= RETRY_CAP_S for wait in waits[6:])
    assert len({round(wait, 6) for wait in waits[6:]}) > 1
