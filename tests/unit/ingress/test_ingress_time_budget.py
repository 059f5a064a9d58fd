"""The ingress answers 503 with Retry-After while Hypetech still waits for its answer."""

from __future__ import annotations

from services.ingress.settings import IngressSettings
from services.simulator.settings import SimulatorSettings

#: What a webhook needs outside the wait for the ledger (read, verify, parse, publish, network).
OUTSIDE_THE_LEDGER_S = 1.0


def test_the_ingress_gives_up_on_the_ledger_well_before_hypetech_gives_up_on_the_ingress() -> None:
    ingress = IngressSettings(environment="test")
    hypetech = SimulatorSettings()

    assert ingress.ledger_timeout_s + OUTSIDE_THE_LEDGER_S <= hypetech.webhook_timeout_s
