"""The crash-test fault hook is armed in development and test only, and says so at start."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from services.ledger.app import build
from services.ledger.faults import FAULT_ENV, Faults
from services.ledger.settings import LedgerSettings
from shared.settings import Environment

KILL_AT_FIRST_COMMIT = {FAULT_ENV: "after_db_commit:1"}


def test_the_fault_hook_is_ignored_in_production() -> None:
    faults = Faults.from_env(Environment.PRODUCTION, KILL_AT_FIRST_COMMIT)

    faults.reach("after_db_commit")  # armed, this would SIGKILL the test process

    assert not faults.armed


def test_an_ignored_fault_hook_is_logged_at_start() -> None:
    with capture_logs() as logs:
        Faults.from_env(Environment.PRODUCTION, KILL_AT_FIRST_COMMIT)

    assert [entry["event"] for entry in logs] == ["ledger.faults.ignored"]
    assert logs[0]["environment"] == "production"


@pytest.mark.parametrize("environment", [Environment.DEVELOPMENT, Environment.TEST])
def test_the_fault_hook_is_armed_in_development_and_test(environment: Environment) -> None:
    with capture_logs() as logs:
        faults = Faults.from_env(environment, KILL_AT_FIRST_COMMIT)

    assert faults.armed
    assert [entry["event"] for entry in logs] == ["ledger.faults.armed"]


def test_no_fault_asked_for_is_no_fault_armed() -> None:
    assert not Faults.from_env(Environment.TEST, {}).armed


def test_the_production_ledger_is_built_without_its_fault_hook(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(FAULT_ENV, "after_db_commit:1")

    service = build(LedgerSettings(environment="production"), consumer=False)

    assert not service.faults.armed
