"""The OpenAPI document of the webhook API the ingress serves to Hypetech.

Built from the configured routes, so the document always names the paths this deployment answers.
``docs/ingress-openapi.json`` is this document for the default settings (a test keeps it current).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.ingress.normalise import (
    MAX_EXTRA_DATA_CHARS,
    MAX_ID_CHARS,
    MAX_ID_DIGITS,
    MAX_TEXT_CHARS,
)
from services.ingress.webhooks import WebhookRoute
from shared.contracts.commands import WebhookKind
from shared.contracts.problems import PROBLEM_CONTENT_TYPE, PROBLEM_STATUS
from shared.currencies import ISO_4217_EXPONENTS
from shared.money import MAX_AMOUNT_CHARS

#: No control character (nor an unpaired surrogate, which JSON Schema cannot say).
_NO_CONTROL = "^[^\\x00-\\x1f\\x7f]*$"
_STRING = {"type": "string"}
_TEXT = {"type": "string", "maxLength": MAX_TEXT_CHARS, "pattern": _NO_CONTROL}
_ID = {
    "anyOf": [
        {"type": "string", "maxLength": MAX_ID_CHARS, "pattern": _NO_CONTROL},
        {"type": "number"},
    ],
    "description": f"string, or a number of at most {MAX_ID_DIGITS} digits (read exactly)",
}
#: ASCII decimal text as ``shared.money.to_decimal`` reads it.
_DECIMAL_TEXT = "^[+-]?(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_AMOUNT = {
    "anyOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "minLength": 1, "maxLength": MAX_AMOUNT_CHARS, "pattern": _DECIMAL_TEXT},
    ],
    "description": "exact decimal, not below 0 (a paid bet's above 0), with at most the "
    "currency's decimals (else 400 invalid-amount)",
}

_MONEY_FIELDS: dict[str, Any] = {
    "user_id": _ID,
    "currency": {"$ref": "#/components/schemas/CurrencyCode"},
    "amount": _AMOUNT,
    "provider": _TEXT,
    "provider_tx_id": _ID,
    "game": _TEXT,
    "action": _TEXT,
    "round_id": _ID,
    "action_id": {**_ID, "description": "V1 name of round_id"},
    "mode": {
        "type": "string",
        "enum": ["default", "free"],
        "description": "read in any case, spaces around ignored",
    },
    "count_register": {
        "anyOf": [
            {"type": "integer", "minimum": 0, "maximum": 10**9 - 1},
            {"type": "string", "pattern": "^\\s*[0-9]{1,9}\\s*$"},
        ]
    },
    "session_token": _TEXT,
    "platform": {**_TEXT, "description": "V1 only"},
    "bonus_code": _TEXT,
    "extra_data": {
        "type": "string",
        "maxLength": MAX_EXTRA_DATA_CHARS,
        "pattern": "^[^\\x00]*$",
        "description": "free text, echoed verbatim",
    },
    "linked_tx_id": {**_ID, "description": "V4: the transaction this one settles or rolls back"},
    "rollback_provider_tx_id": {**_ID, "description": "V1: the transaction rolled back"},
    "agreggator": {**_TEXT, "description": "V4 win spelling of aggregator"},
    "aggregator": _TEXT,
}

_REQUIRED: dict[WebhookKind, list[str]] = {
    WebhookKind.BET: [
        "user_id", "currency", "amount", "provider", "provider_tx_id", "round_id", "session_token",
    ],
    WebhookKind.WIN: ["user_id", "currency", "amount", "provider", "provider_tx_id", "round_id"],
    WebhookKind.LOSE: ["user_id", "currency", "amount", "provider", "provider_tx_id", "round_id"],
    WebhookKind.ROLLBACK: ["user_id", "currency", "amount", "provider", "provider_tx_id"],
    WebhookKind.BALANCE: ["user_id", "currency"],
}  # fmt: skip

_SUMMARY = {
    WebhookKind.BET: "Register Bet: debit the stake (no debit for mode=free)",
    WebhookKind.WIN: "Register Win (rewards): credit the winnings",
    WebhookKind.LOSE: "Lose (V1/V2): settle the round's open bets, no money moves",
    WebhookKind.ROLLBACK: "Rollback: refund the original stake of the target bet",
    WebhookKind.BALANCE: "Balance: read the player's balance",
}

_MONEY_RESPONSE = {
    "type": "object",
    "properties": dict.fromkeys(
        ("operator_tx_id", "new_balance", "old_balance", "user_id", "currency", "provider",
         "provider_tx_id"),
        _STRING,
    ),
}  # fmt: skip
_BALANCE_RESPONSE = {
    "type": "object",
    "properties": {
        **dict.fromkeys(("user_id", "currency", "balance", "old_balance", "new_balance"), _STRING),
        "hypetech_session_token": {
            "type": ["string", "null"],
            "description": "the request's session_token; null without one",
        },
    },
}
_PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": _STRING,
        "status": {"type": "integer"},
        "statusCode": {"type": "integer"},
        "detail": _STRING,
        "instance": _STRING,
        "field": _STRING,
        "balance": _STRING,
        "provider_tx_id": _STRING,
    },
}


def _problems(*slugs: str) -> dict[str, Any]:
    by_status: dict[str, list[str]] = {}
    for slug in slugs:
        by_status.setdefault(str(PROBLEM_STATUS[slug][0]), []).append(slug)
    return {
        status: {
            "description": ", ".join(names),
            "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status, names in sorted(by_status.items())
    }


_LEDGER_PROBLEMS = {
    WebhookKind.BET: (
        "account-not-found", "player-blocked", "invalid-session", "transaction-rolled-back",
        "no-free-bets-left", "insufficient-funds", "limit-exceeded", "player-self-excluded",
        "period-total-exceeded", "duplicate-transaction-mismatch", "decision-expired",
    ),
    WebhookKind.WIN: (
        "account-not-found", "bet-not-found", "round-not-found", "bet-rolled-back",
        "bet-already-settled", "balance-limit-exceeded", "duplicate-transaction-mismatch",
        "decision-expired",
    ),
    WebhookKind.LOSE: ("account-not-found", "duplicate-transaction-mismatch"),
    WebhookKind.ROLLBACK: (
        "account-not-found", "bet-already-settled", "balance-limit-exceeded",
        "duplicate-transaction-mismatch", "decision-expired",
    ),
    WebhookKind.BALANCE: ("account-not-found",),
}  # fmt: skip

_INGRESS_PROBLEMS = (
    "invalid-signature", "malformed-request", "invalid-field", "invalid-amount",
    "unknown-currency", "payload-too-large", "ledger-unavailable",
)  # fmt: skip


#: The fields a balance read reads (``normalise``); it ignores the others, whatever they hold.
_BALANCE_READS = (
    "user_id", "currency", "session_token", "provider", "provider_tx_id", "round_id",
    "action_id", "game", "action",
)  # fmt: skip


def _fields(kind: WebhookKind) -> dict[str, Any]:
    if kind is WebhookKind.BALANCE:
        return {name: _MONEY_FIELDS[name] for name in _BALANCE_READS}
    return _MONEY_FIELDS


def _operation(route: WebhookRoute, method: str) -> dict[str, Any]:
    kind = route.kind
    fields = _fields(kind)
    schema = {"type": "object", "properties": fields, "required": _REQUIRED[kind]}
    response = _BALANCE_RESPONSE if kind is WebhookKind.BALANCE else _MONEY_RESPONSE
    operation: dict[str, Any] = {
        "operationId": f"{kind.value}_{method}_{route.path.strip('/').replace('/', '_')}",
        "summary": _SUMMARY[kind],
        "description": (
            "Fields are read from the query string and the JSON body (the body wins). "
            + ("Current-generation path." if route.current else "Legacy path (V1-V3 names).")
        ),
        "tags": ["webhooks"],
        "security": [{"HypeHash": []}],
        "responses": {
            "200": {
                "description": "The ledger's decision",
                "content": {"application/json": {"schema": response}},
            },
            **_problems(*_INGRESS_PROBLEMS, *_LEDGER_PROBLEMS[kind]),
        },
    }
    if method == "post":
        operation["requestBody"] = {"content": {"application/json": {"schema": schema}}}
    else:
        operation["parameters"] = [
            {"name": name, "in": "query", "required": name in _REQUIRED[kind], "schema": spec}
            for name, spec in fields.items()
        ]
    return operation


def build_openapi(routes: Sequence[WebhookRoute], public_base_url: str) -> dict[str, Any]:
    paths = {
        route.path: {method: _operation(route, method) for method in ("get", "post")}
        for route in sorted(routes, key=lambda r: r.path)
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "hypeledger ingress: Hypetech wallet webhooks",
            "version": "1.0.0",
            "description": (
                "Signed webhooks from Hypetech (all four doc generations), answered with the "
                "ledger's decision. Errors are RFC 7807 problem+json."
            ),
        },
        "servers": [{"url": public_base_url.rstrip("/")}],
        "paths": paths,
        "components": {
            "schemas": {
                "Problem": _PROBLEM,
                "CurrencyCode": {
                    "type": "string",
                    "enum": sorted(ISO_4217_EXPONENTS),
                    "description": "ISO 4217 code (read in any case; codes a deployment adds "
                    "with HYPELEDGER_EXTRA_CURRENCIES are accepted too)",
                },
            },
            "securitySchemes": {
                "HypeHash": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Hype-Hash",
                    "description": (
                        "Lower-case hex HMAC-SHA256, keyed with the API key, of the public URL "
                        "of the route followed by the raw body (the URL may carry the query "
                        "string)."
                    ),
                }
            },
        },
    }
