"""Transaction pooling: the statement cache follows it unless set, and the reconciler refuses it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.ledger.settings import LedgerSettings
from services.reconciler.settings import ReconcilerSettings
from shared.db.pool import DEFAULT_STATEMENT_CACHE_SIZE, statement_cache_size


@pytest.mark.parametrize(
    ("pooling", "size", "expected"),
    [
        (False, None, DEFAULT_STATEMENT_CACHE_SIZE),
        (True, None, 0),
        (True, 200, 200),
        (False, 0, 0),
    ],
)
def test_the_statement_cache_is_off_behind_transaction_pooling_unless_set(
    pooling: bool, size: int | None, expected: int
) -> None:
    settings = LedgerSettings(
        environment="test",
        database_transaction_pooling=pooling,
        database_statement_cache_size=size,
    )

    assert statement_cache_size(settings) == expected


def test_the_reconciler_refuses_transaction_pooling_for_its_session_lock() -> None:
    with pytest.raises(ValidationError, match="session-level advisory lock"):
        ReconcilerSettings(environment="test", database_transaction_pooling=True)
