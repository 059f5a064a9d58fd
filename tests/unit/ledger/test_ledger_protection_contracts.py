"""Player protection's event: the committed JSON Schema is generated from the model, and every
kind of event the decision core builds satisfies both."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
from ledger_values import (
    NOW,
    USER,
    bet,
    events_of,
    operator,
    run,
    state_with,
)

from services.ledger.protection import Limit
from shared.contracts.commands import OperatorKind
from shared.contracts.protection import LimitKind, LimitPeriod, ProtectionEvent
from shared.jsonwire import loads_exact

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = ROOT / "shared/contracts/schemas/protection_event.v1.json"
WHO = {"requested_by": "support-7", "reason": "player asked"}


def generated_schema() -> dict[str, object]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://hypeledger.dev/schemas/protection_event.v1.json",
        **ProtectionEvent.model_json_schema(),
    }


def test_protection_event_schema_file_matches_the_model() -> None:
    committed = json.loads(SCHEMA.read_text())

    assert committed == generated_schema()


def test_every_protection_event_satisfies_the_model_and_the_schema() -> None:
    state = state_with()
    state.limits[(USER, "USD")] = {
        (LimitKind.LOSS, LimitPeriod.DAY): Limit(LimitKind.LOSS, LimitPeriod.DAY, 10_00)
    }
    decisions = [
        run(state, bet("b1", "10.00")),
        run(state, bet("b2", "1.00", round_id="r2")),
        run(
            state,
            operator(
                OperatorKind.SET_LIMIT,
                "s1",
                "20.00",
                limit=LimitKind.WAGER,
                period=LimitPeriod.WEEK,
                **WHO,
            ),
        ),
        run(state, operator(OperatorKind.TIME_OUT, "t1", until=NOW + timedelta(days=1), **WHO)),
        run(state, bet("b3", "1.00", round_id="r3")),
    ]
    events: list[dict[str, Any]] = [
        loads_exact(event.payload) for decision in decisions for event in events_of(decision)
    ]
    protection = [event for event in events if event["event_type"] == "wallet.protection"]

    for event in protection:
        jsonschema.validate(json.loads(json.dumps(event, default=str)), generated_schema())
        ProtectionEvent.model_validate(event)
    assert [event["kind"] for event in protection] == [
        "threshold_reached",
        "threshold_reached",
        "refused",
        "limit_changed",
        "excluded",
        "refused",
    ]
