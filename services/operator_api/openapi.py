"""The OpenAPI 3.1 description of the operator API (served at ``/openapi.json``, kept in docs/)."""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import BaseModel

from services.operator_api.findings import CLASS_PATTERN
from services.operator_api.history import KIND_PATTERN
from services.operator_api.models import (
    AccountChange,
    ChangeFindingStatus,
    CreateAccount,
    Exclude,
    FindingStatus,
    GrantFreeBets,
    LaunchGame,
    MoneyMovement,
    RemoveLimit,
    SetLimit,
)
from services.operator_api.pages import DEFAULT_LIMIT, MAX_LIMIT
from services.operator_api.reports import MONEY_FIELDS
from shared.contracts.problems import PROBLEM_CONTENT_TYPE, PROBLEM_STATUS
from shared.contracts.protection import ExclusionKind, LimitKind, LimitPeriod, period_fits
from shared.currencies import ISO_4217_EXPONENTS
from shared.identifiers import (
    MAX_KEY,
    MAX_PROVIDER_ID,
    MAX_USER_ID,
    SAFE_TEXT_PATTERN,
    USER_ID_PATTERN,
    USER_ID_RULES,
)
from shared.money import MAX_AMOUNT_CHARS

TITLE = "hypeledger operator API"
VERSION = "1.0.0"

_REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    CreateAccount,
    AccountChange,
    MoneyMovement,
    LaunchGame,
    GrantFreeBets,
    ChangeFindingStatus,
    SetLimit,
    RemoveLimit,
    Exclude,
)

_USER_ID = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_USER_ID,
    "pattern": USER_ID_PATTERN,
    "description": USER_ID_RULES,
}
_USER = {"name": "user_id", "in": "path", "required": True, "schema": _USER_ID}
_CURRENCY_REF = {"$ref": "#/components/schemas/CurrencyCode"}
_CURRENCY = {"name": "currency", "in": "path", "required": True, "schema": _CURRENCY_REF}
#: A finding id is at most 18 digits (larger ones are answered 404 without a lookup).
_FINDING = {
    "name": "finding_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 0, "maximum": 10**18 - 1},
}
#: An id the provider gave, or an idempotency key (``shared.identifiers``).
_SAFE_TEXT = {"type": "string", "minLength": 1, "pattern": SAFE_TEXT_PATTERN}


def _or_blank(schema: dict[str, Any], blank: str = r"^\s*$") -> dict[str, Any]:
    """``schema``, or a blank value, which the server reads as not given."""
    return {"anyOf": [schema, {"type": "string", "pattern": blank}]}


_KEY_RULES = (
    f"1 to {MAX_KEY} characters; NFC; no control, format (bidi, zero-width) or surrounding "
    "space characters. Unique per intended operation: the same key and body get the same answer; "
    "the same key with another request gets 409 duplicate-transaction-mismatch."
)
_KEY_REQUIRED = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "description": _KEY_RULES + " Missing or blank: 400 idempotency-key-required.",
    "schema": {**_SAFE_TEXT, "maxLength": MAX_KEY},
}
_KEY_OPTIONAL = {
    **_KEY_REQUIRED,
    "required": False,
    "description": _KEY_RULES + " Missing or blank: the server makes one up (no replay).",
    "schema": _or_blank({**_SAFE_TEXT, "maxLength": MAX_KEY}),
}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


_PAGING = [
    _query(
        "limit",
        f"Rows per page (1-{MAX_LIMIT}, default {DEFAULT_LIMIT}).",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    ),
    _query("cursor", "next_cursor of the previous page (opaque; valid for the same filters)."),
]
#: A filter left empty is no filter.
_EMPTY = "^$"
_PROVIDER_ID_FILTER = _or_blank({**_SAFE_TEXT, "maxLength": MAX_PROVIDER_ID}, _EMPTY)
#: A time with its UTC offset; blank is not given.
_TIME_FILTER = _or_blank({"type": "string", "format": "date-time"})
_HISTORY_FILTERS = [
    _query(
        "kind",
        "Transaction kind: bet, win, rollback, deposit, withdraw... (empty: any).",
        _or_blank({"type": "string", "pattern": KIND_PATTERN.pattern}, _EMPTY),
    ),
    _query("round_id", "Only this game round (empty: any).", _PROVIDER_ID_FILTER),
    _query("session_token", "Only this Hypetech session (empty: any).", _PROVIDER_ID_FILTER),
    _query(
        "since",
        "From this time on (RFC 3339 with offset, inclusive; blank: no bound).",
        _TIME_FILTER,
    ),
    _query(
        "until",
        "Before this time (RFC 3339 with offset, exclusive; blank: no bound).",
        _TIME_FILTER,
    ),
    *_PAGING,
]
_FINDING_FILTERS = [
    _query(
        "status",
        "open, resolved or ignored (empty: any).",
        _or_blank({"enum": [s.value for s in FindingStatus]}, _EMPTY),
    ),
    _query(
        "class",
        "Finding class, e.g. missing_in_ledger (empty: any).",
        _or_blank({"type": "string", "pattern": CLASS_PATTERN.pattern}, _EMPTY),
    ),
    _query("session_id", "Only this session (empty: any).", _PROVIDER_ID_FILTER),
    _query("user_id", "Only this player (empty: any).", _or_blank(_USER_ID, _EMPTY)),
    *_PAGING,
]

_ACCOUNT = {"$ref": "#/components/schemas/Account"}


def _ledger_reply(schema: str) -> dict[str, Any]:
    return {
        "description": "The ledger's stored answer, passed through byte for byte: the same "
        "key and body always get the same status and body.",
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


_LEDGER_REPLY = _ledger_reply("LedgerReply")


def _page(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": item},
            "next_cursor": {"type": ["string", "null"]},
        },
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _ok(description: str, schema: dict[str, Any], status: str = "200") -> dict[str, Any]:
    content = {"application/json": {"schema": schema}}
    return {status: {"description": description, "content": content}}


_PROBLEM_PREFIX = "Problem: "


def _problems(*slugs: str) -> dict[str, Any]:
    """Problem responses by status; each lists the problem types it can carry."""
    by_status: dict[str, list[str]] = {}
    for slug in ("unauthorized", *slugs):
        names = by_status.setdefault(str(PROBLEM_STATUS[slug][0]), [])
        if slug not in names:
            names.append(slug)
    return {
        status: {
            "description": _PROBLEM_PREFIX + ", ".join(names),
            "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status, names in sorted(by_status.items())
    }


def _input_problems(parameters: list[dict[str, Any]], body: dict[str, Any] | None) -> list[str]:
    """The problems the server answers for what a request carries, whatever the operation:
    a path id or query value breaking its rules, an unknown currency, a bad body, a key."""
    slugs: list[str] = []
    names = {parameter["name"] for parameter in parameters}
    if parameters or body is not None:
        slugs.append("invalid-field")
    if "currency" in names:
        slugs.append("unknown-currency")
    if body is not None:
        slugs += ["malformed-request", "payload-too-large"]
    for parameter in parameters:
        if parameter["name"] == _KEY_REQUIRED["name"]:
            slugs.append("duplicate-transaction-mismatch")
            if parameter["required"]:
                slugs.append("idempotency-key-required")
    return slugs


def _with_problems(responses: dict[str, Any], slugs: list[str]) -> dict[str, Any]:
    """``responses`` with each of ``slugs`` named by the problem response of its status."""
    merged = dict(responses)
    for status, response in _problems(*slugs).items():
        if status not in merged:
            merged[status] = response
            continue
        names = merged[status]["description"].removeprefix(_PROBLEM_PREFIX).split(", ")
        wanted = response["description"].removeprefix(_PROBLEM_PREFIX).split(", ")
        names += [name for name in wanted if name not in names]
        merged[status] = {**merged[status], "description": _PROBLEM_PREFIX + ", ".join(names)}
    return dict(sorted(merged.items()))


def _body(model: type[BaseModel], required: bool = True) -> dict[str, Any]:
    return {
        "required": required,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
        },
    }


def _operation(
    summary: str,
    responses: dict[str, Any],
    *,
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    tag: str,
) -> dict[str, Any]:
    implied = _input_problems(parameters or [], body)
    operation: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "responses": _with_problems(responses, implied) if implied else responses,
    }
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = body
    return operation


def _command(
    summary: str, model: type[BaseModel], key: dict[str, Any], *slugs: str
) -> dict[str, Any]:
    return _operation(
        summary,
        {"200": _LEDGER_REPLY, **_problems(*slugs, "ledger-unavailable", "invalid-field")},
        parameters=[_USER, _CURRENCY, key],
        body=_body(model, required=model is not AccountChange),
        tag="accounts",
    )


_LIMIT_VIEW = {
    "type": "object",
    "properties": {
        "limit": {"type": "string", "enum": ["deposit", "wager", "loss", "max_bet"]},
        "period": {"type": "string", "enum": ["day", "week", "month", "bet"]},
        "limit_amount": {"type": "string", "description": "In force now."},
        "pending": {
            "type": ["object", "null"],
            "description": "A raise (amount) or a removal (amount null) waiting for its "
            "cooling-off period to end at effective_at.",
            "properties": {
                "amount": {"type": ["string", "null"]},
                "effective_at": {"type": "string", "format": "date-time"},
            },
        },
        "period_start": {"type": "string", "format": "date"},
        "used": {"type": "string", "description": "The period's total so far."},
        "allowed": {"type": "string", "description": "What the period still allows."},
    },
}
_PROTECTION = {
    "type": "object",
    "properties": {
        "user_id": {"type": "string"},
        "currency": {"type": "string"},
        "time_zone": {"type": "string", "description": "Where days, weeks and months begin."},
        "limits": {"type": "array", "items": _LIMIT_VIEW},
        "exclusion": {
            "type": ["object", "null"],
            "properties": {
                "kind": {"type": "string", "enum": ["self_exclusion", "time_out"]},
                "since": {"type": "string", "format": "date-time"},
                "until": {"type": ["string", "null"], "format": "date-time"},
            },
        },
    },
}


def _protection_command(
    summary: str, model: type[BaseModel], reply: str, *slugs: str
) -> dict[str, Any]:
    return _operation(
        summary,
        {
            "200": _ledger_reply(reply),
            **_problems(
                "account-not-found",
                "unknown-currency",
                "idempotency-key-required",
                "duplicate-transaction-mismatch",
                "ledger-unavailable",
                "invalid-field",
                *slugs,
            ),
        },
        parameters=[_USER, _CURRENCY, _KEY_REQUIRED],
        body=_body(model),
        tag="player protection",
    )


def _protection_paths(account: str) -> dict[str, Any]:
    return {
        f"{account}/limits": {
            "get": _operation(
                "The limits in force, what each period used and still allows, pending changes "
                "and the exclusion",
                {**_ok("Player protection", _PROTECTION), **_problems("account-not-found")},
                parameters=[_USER, _CURRENCY],
                tag="player protection",
            ),
            "put": _protection_command(
                "Set a limit: a new or lower one at once, a higher one after the cooling-off "
                "period",
                SetLimit,
                "LimitReply",
                "invalid-amount",
            ),
            "delete": _protection_command(
                "Remove a limit: it stays in force for the cooling-off period",
                RemoveLimit,
                "LimitReply",
            ),
        },
        f"{account}/limits/history": {
            "get": _operation(
                "Every change of the account's limits and exclusions, oldest first, with who, "
                "when, why and when it took effect",
                {
                    **_ok(
                        "The changes",
                        {
                            "type": "object",
                            "properties": {"items": {"type": "array", "items": {"type": "object"}}},
                        },
                    ),
                    **_problems("account-not-found"),
                },
                parameters=[_USER, _CURRENCY],
                tag="player protection",
            )
        },
        f"{account}/exclusion": {
            "post": _protection_command(
                "Self-exclude (until a date or indefinitely) or time out: bets, deposits and "
                "launches are refused; never lifted early",
                Exclude,
                "ExclusionReply",
            )
        },
    }


def _paths() -> dict[str, Any]:
    account = "/accounts/{user_id}/{currency}"
    return {
        "/accounts": {
            "post": _operation(
                "Create the account (user_id, currency) through the ledger",
                {
                    "200": _LEDGER_REPLY,
                    **_problems(
                        "account-exists", "unknown-currency", "invalid-field", "ledger-unavailable"
                    ),
                },
                parameters=[_KEY_OPTIONAL],
                body=_body(CreateAccount),
                tag="accounts",
            )
        },
        "/players/{user_id}/accounts": {
            "get": _operation(
                "A player's accounts, one per currency",
                {
                    **_ok(
                        "The accounts",
                        {
                            "type": "object",
                            "properties": {"items": {"type": "array", "items": _ACCOUNT}},
                        },
                    ),
                    **_problems("account-not-found"),
                },
                parameters=[_USER],
                tag="accounts",
            )
        },
        account: {
            "get": _operation(
                "Show an account",
                {
                    **_ok("The account", _ACCOUNT),
                    **_problems("account-not-found", "unknown-currency"),
                },
                parameters=[_USER, _CURRENCY],
                tag="accounts",
            )
        },
        f"{account}/balance": {
            "get": _operation(
                "The balance, read from the database; with at, the balance as of that time",
                {
                    **_ok(
                        "The balance (with at: after every posting at or before it, 0 before"
                        " the first; one index lookup)",
                        _ref("Balance"),
                    ),
                    **_problems("account-not-found", "unknown-currency", "invalid-field"),
                },
                parameters=[
                    _USER,
                    _CURRENCY,
                    _query(
                        "at",
                        "The balance as of this time (RFC 3339 with offset; blank: now).",
                        _TIME_FILTER,
                    ),
                ],
                tag="accounts",
            )
        },
        f"{account}/block": {
            "post": _command(
                "Block the player's account", AccountChange, _KEY_OPTIONAL, "account-not-found"
            )
        },
        f"{account}/unblock": {
            "post": _command(
                "Unblock the player's account", AccountChange, _KEY_OPTIONAL, "account-not-found"
            )
        },
        f"{account}/deposits": {
            "post": _command(
                "Deposit (credit from the operator's cash); refused by a deposit limit or an "
                "exclusion",
                MoneyMovement,
                _KEY_REQUIRED,
                "account-not-found",
                "invalid-amount",
                "limit-exceeded",
                "player-self-excluded",
                "balance-limit-exceeded",
                "period-total-exceeded",
                "idempotency-key-required",
                "duplicate-transaction-mismatch",
            )
        },
        f"{account}/withdrawals": {
            "post": _command(
                "Withdraw (debit to the operator's cash); never below zero",
                MoneyMovement,
                _KEY_REQUIRED,
                "account-not-found",
                "invalid-amount",
                "insufficient-funds",
                "player-blocked",
                "idempotency-key-required",
                "duplicate-transaction-mismatch",
            )
        },
        **_protection_paths(account),
        f"{account}/transactions": {
            "get": _operation(
                "The player's transactions, newest first (keyset-paged)",
                {
                    **_ok("A page of transactions", _page(_ref("Transaction"))),
                    **_problems("account-not-found", "invalid-field"),
                },
                parameters=[_USER, _CURRENCY, *_HISTORY_FILTERS],
                tag="history",
            )
        },
        f"{account}/postings": {
            "get": _operation(
                "Postings of the player wallet, newest first: they add up to the balance",
                {
                    **_ok("A page of postings", _page(_ref("Posting"))),
                    **_problems("account-not-found", "invalid-field"),
                },
                parameters=[_USER, _CURRENCY, *_HISTORY_FILTERS],
                tag="history",
            )
        },
        f"{account}/free-bets": {
            "get": _operation(
                "The player's free-bet grants, newest first",
                {
                    **_ok("A page of grants", _page(_ref("Grant"))),
                    **_problems("account-not-found", "invalid-field"),
                },
                parameters=[_USER, _CURRENCY, *_PAGING],
                tag="free bets",
            )
        },
        "/free-bets": {
            "post": _operation(
                "Grant free bets: Hypetech's Redeem Free Bet, then the grant is recorded",
                {
                    **_ok("The grant", _ref("Grant"), status="201"),
                    **_problems(
                        "account-not-found",
                        "player-blocked",
                        "player-self-excluded",
                        "invalid-amount",
                        "invalid-field",
                        "game-not-found",
                        "provider-error",
                    ),
                },
                parameters=[_KEY_OPTIONAL],
                body=_body(GrantFreeBets),
                tag="free bets",
            )
        },
        "/sessions": {
            "post": _operation(
                "Launch a game: balance, Hypetech request-access, session stored",
                {
                    **_ok(
                        "The single-use game URL and its session",
                        _ref("Session"),
                        status="201",
                    ),
                    **_problems(
                        "account-not-found",
                        "player-blocked",
                        "player-self-excluded",
                        "invalid-field",
                        "game-not-found",
                        "provider-error",
                    ),
                },
                body=_body(LaunchGame),
                tag="sessions",
            )
        },
        "/reports/daily": {
            "get": _operation(
                "One day's totals per game and currency (the day in the operator's time zone)",
                {**_ok("The day's report", _ref("DailyReport")), **_problems("invalid-field")},
                parameters=[
                    {
                        **_query(
                            "date", "The day, YYYY-MM-DD.", {"type": "string", "format": "date"}
                        ),
                        "required": True,
                    }
                ],
                tag="reports",
            )
        },
        "/findings": {
            "get": _operation(
                "Reconciliation findings, newest first",
                {
                    **_ok("A page of findings", _page(_ref("Finding"))),
                    **_problems("invalid-field"),
                },
                parameters=_FINDING_FILTERS,
                tag="findings",
            )
        },
        "/findings/{finding_id}": {
            "get": _operation(
                "One finding with its evidence and status changes",
                {**_ok("The finding", _ref("FindingWithChanges")), **_problems("not-found")},
                parameters=[_FINDING],
                tag="findings",
            )
        },
        "/findings/{finding_id}/status": {
            "post": _operation(
                "Change a finding's status (open, resolved, ignored), recording who and why",
                {
                    **_ok("The finding after the change", _ref("FindingWithChanges")),
                    **_problems("not-found", "invalid-field"),
                },
                parameters=[_FINDING],
                body=_body(ChangeFindingStatus),
                tag="findings",
            )
        },
        "/healthz": {
            "get": {
                "summary": "Alive",
                "tags": ["probes"],
                "security": [],
                "responses": _ok("Alive", _ref("Alive")),
            }
        },
        "/readyz": {
            "get": {
                "summary": "Database and ledger link usable",
                "tags": ["probes"],
                "security": [],
                "responses": {
                    **_ok("Ready", _ref("Readiness")),
                    "503": {
                        "description": "Not ready: the failing check is false",
                        "content": {"application/json": {"schema": _ref("Readiness")}},
                    },
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "tags": ["probes"],
                "security": [],
                "responses": {
                    "200": {"description": "Prometheus text format", "content": {"text/plain": {}}}
                },
            }
        },
    }


#: A daily report row's keys (services/operator_api/reports.py).
REPORT_FIELDS = ("game", "currency", *MONEY_FIELDS, "bets", "players")


def _object(required: list[str], **properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


_STRING = {"type": "string"}
_NULLABLE_STRING = {"type": ["string", "null"]}
_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
_MONEY = {"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "example": "2050.00"}
_NULLABLE_MONEY = {**_MONEY, "type": ["string", "null"]}


def _response_schemas() -> dict[str, Any]:
    """What each successful answer holds (every key is always present; some may be null)."""
    account: dict[str, Any] = {
        "user_id": _STRING,
        "currency": _CURRENCY_REF,
        "balance": _MONEY,
        "blocked": {"type": "boolean"},
    }
    history: dict[str, Any] = {
        "operator_tx_id": _STRING,
        "kind": _STRING,
        "amount": _MONEY,
        "currency": _CURRENCY_REF,
        "provider_tx_id": _STRING,
        "round_id": _NULLABLE_STRING,
        "session_token": _NULLABLE_STRING,
        "created_at": _TIME,
    }
    finding: dict[str, Any] = {
        "finding_id": {"type": "integer"},
        "class": {"type": "string", "pattern": CLASS_PATTERN.pattern},
        "status": {"enum": [s.value for s in FindingStatus]},
        "version": {"type": "integer"},
        "provider": _STRING,
        "session_id": _STRING,
        "kind": _STRING,
        "provider_tx_id": _STRING,
        "round_id": _NULLABLE_STRING,
        "user_id": _NULLABLE_STRING,
        "currency": _NULLABLE_STRING,
        "detail": _STRING,
        "provider_row": {"type": ["object", "null"], "description": "Hypetech's row as read"},
        "ledger_row": {"type": ["object", "null"], "description": "the ledger's row as read"},
        "first_seen_at": _TIME,
        "last_seen_at": _TIME,
        "times_seen": {"type": "integer", "minimum": 1},
        "status_changed_by": _NULLABLE_STRING,
        "status_changed_at": _NULLABLE_TIME,
        "status_reason": _NULLABLE_STRING,
    }
    command: dict[str, Any] = {
        "operator_tx_id": _STRING,
        "kind": _STRING,
        "idempotency_key": _NULLABLE_STRING,
        "user_id": _STRING,
        "currency": _STRING,
    }
    change: dict[str, Any] = {
        "version": {"type": "integer"},
        "from_status": {"enum": [s.value for s in FindingStatus]},
        "to_status": {"enum": [s.value for s in FindingStatus]},
        "changed_by": _STRING,
        "changed_at": _TIME,
        "reason": _NULLABLE_STRING,
    }
    return {
        "CurrencyCode": {
            "description": "ISO 4217 code (a deployment may add codes with "
            "HYPELEDGER_EXTRA_CURRENCIES; they are accepted but not listed here).",
            "enum": sorted(ISO_4217_EXPONENTS),
        },
        "Account": _object(
            [*account, "created_at", "updated_at"],
            **account,
            created_at=_TIME,
            updated_at=_TIME,
        ),
        "Balance": {
            **_object(["user_id", "currency", "balance"], **account, at=_TIME),
            "description": "Now: with blocked. As of a time (at given): with at instead.",
        },
        "DailyReport": _object(
            ["date", "time_zone", "from", "to", "items", "unpriced_currencies"],
            date={"type": "string", "format": "date"},
            time_zone=_STRING,
            **{"from": _TIME, "to": _TIME},
            items={
                "type": "array",
                "items": _object(
                    [*REPORT_FIELDS],
                    game=_STRING,
                    currency=_CURRENCY_REF,
                    **dict.fromkeys(MONEY_FIELDS, _MONEY),
                    bets={"type": "integer", "minimum": 0},
                    players={"type": "integer", "minimum": 0},
                ),
            },
            unpriced_currencies={
                "type": "array",
                "items": _STRING,
                "description": "Currencies with activity that day that this service's currency"
                " table does not know: left out of items (configure the same"
                " HYPELEDGER_EXTRA_CURRENCIES as the ledger).",
            },
        ),
        "LedgerReply": _object(
            ["operator_tx_id", "kind", "user_id", "currency", "status"],
            operator_tx_id=_STRING,
            kind=_STRING,
            idempotency_key=_NULLABLE_STRING,
            user_id=_STRING,
            currency=_STRING,
            status=_STRING,
            old_balance={"type": ["string", "null"]},
            new_balance={"type": ["string", "null"]},
        ),
        "LimitReply": _object(
            [*command, "limit", "period", "limit_amount", "requested", "effective_at"],
            **command,
            limit={"enum": [k.value for k in LimitKind]},
            period={"enum": [p.value for p in LimitPeriod]},
            limit_amount={
                **_NULLABLE_MONEY,
                "description": "In force after this change (null: no limit).",
            },
            requested={
                **_NULLABLE_MONEY,
                "description": "The amount asked for (null: a removal).",
            },
            effective_at=_TIME,
        ),
        "ExclusionReply": _object(
            [*command, "exclusion", "since", "until"],
            **command,
            exclusion={"enum": [k.value for k in ExclusionKind]},
            since=_TIME,
            until=_NULLABLE_TIME,
        ),
        "Transaction": _object([*history, "provider"], **history, provider=_STRING),
        "Posting": _object(
            [*history, "leg", "account_type"],
            **history,
            leg={"type": "integer"},
            account_type=_STRING,
        ),
        "Grant": _object(
            [
                "grant_id",
                "user_id",
                "currency",
                "game",
                "quantity",
                "remaining",
                "value",
                "expires_at",
                "created_at",
            ],
            grant_id={"type": "integer"},
            user_id=_STRING,
            currency=_CURRENCY_REF,
            game=_STRING,
            bonus_code=_NULLABLE_STRING,
            quantity={"type": "integer", "minimum": 1},
            remaining={"type": "integer", "minimum": 0},
            value=_MONEY,
            expires_at=_NULLABLE_TIME,
            max_multiplier=_NULLABLE_STRING,
            created_at=_TIME,
        ),
        "Finding": _object(list(finding), **finding),
        "FindingWithChanges": _object(
            [*finding, "changes"],
            **finding,
            changes={"type": "array", "items": _object(list(change), **change)},
        ),
        "Session": _object(
            ["game_url", "session_token", "user_id", "currency", "game", "balance", "expires_at"],
            game_url={"type": "string", "format": "uri"},
            session_token=_STRING,
            user_id=_STRING,
            currency=_CURRENCY_REF,
            game=_STRING,
            balance=_MONEY,
            expires_at=_TIME,
        ),
        "Alive": _object(["status"], status={"const": "ok"}),
        "Readiness": _object(
            ["ready", "checks"],
            ready={"type": "boolean"},
            checks={"type": "object", "additionalProperties": {"type": "boolean"}},
        ),
    }


def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {
        **_response_schemas(),
        "Problem": {
            "type": "object",
            "description": "RFC 7807 problem; statusCode repeats status.",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string", "format": "uri"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "statusCode": {"type": "integer"},
                "detail": {"type": "string"},
                "instance": {"type": "string"},
            },
        },
    }
    for model in _REQUEST_MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        _currency_by_code(schema)
        schemas[model.__name__] = schema
    _request_rules(schemas)
    return schemas


#: A decimal in ASCII text (``shared.money.to_decimal``) with a non-zero digit: more than 0.
_POSITIVE_TEXT = r"^\+?(?=[0-9.]*[1-9])(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"

#: Any decimal in ASCII text; above 1 is checked by the server (400).
_DECIMAL_TEXT = r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"


def _decimal(minimum: int) -> list[dict[str, Any]]:
    """A decimal above ``minimum`` (0 or 1): a JSON number or decimal text."""
    text = _POSITIVE_TEXT if minimum == 0 else _DECIMAL_TEXT
    return [
        {"type": "number", "exclusiveMinimum": minimum},
        {"type": "string", "minLength": 1, "maxLength": MAX_AMOUNT_CHARS, "pattern": text},
    ]


def _request_rules(schemas: dict[str, Any]) -> None:
    """What the server checks beyond the models' field types, stated in their schemas: amounts
    above zero (and no finer than the currency: 400 invalid-amount), the period each limit kind
    takes and a time-out's end."""
    for model, field in (("MoneyMovement", "amount"), ("SetLimit", "amount")):
        schemas[model]["properties"][field]["anyOf"] = _decimal(0)
    grant = schemas["GrantFreeBets"]["properties"]
    grant["value"]["anyOf"] = _decimal(0)
    grant["max_multiplier"]["anyOf"] = [*_decimal(1), {"type": "null"}]
    pairs = [
        {
            "properties": {
                "limit": {"enum": [kind.value for kind in LimitKind if period_fits(kind, period)]},
                "period": {"const": period.value},
            }
        }
        for period in LimitPeriod
    ]
    for model in ("SetLimit", "RemoveLimit"):
        schemas[model]["anyOf"] = pairs
        schemas[model]["description"] += (
            " The period is bet for max_bet; day, week or month for the others."
        )
    schemas["Exclude"]["anyOf"] = [
        {"properties": {"kind": {"const": ExclusionKind.SELF_EXCLUSION.value}}},
        {"required": ["until"], "properties": {"until": {"type": "string"}}},
    ]
    schemas["Exclude"]["description"] += " A time-out needs until; until must be in the future."


def _currency_by_code(schema: dict[str, Any]) -> None:
    """A request body's ``currency`` is a code the server knows, not any 3-8 characters."""
    field = schema.get("properties", {}).get("currency")
    if field is None:
        return
    if "anyOf" in field:  # optional: the code or null
        field["anyOf"] = [
            _CURRENCY_REF if branch.get("type") == "string" else branch for branch in field["anyOf"]
        ]
    else:
        schema["properties"]["currency"] = {**_CURRENCY_REF, "title": field.get("title")}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "What the operator's own platform (cashier, lobby, back office) calls. "
            "Money changes are commands to the ledger through Kafka; reads come from Postgres. "
            "Errors are application/problem+json.",
        },
        "servers": [{"url": "http://127.0.0.1:8081"}],
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _schemas(),
        },
    }


def main() -> None:
    """Write the document as committed in docs/: ``python -m services.operator_api.openapi``."""
    sys.stdout.write(json.dumps(document(), indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
