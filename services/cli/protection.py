"""``hypeledger limits show|set|remove|history`` and ``hypeledger exclude``: player protection
through the operator API (each change is a ledger command with an Idempotency-Key, who and why).

Tables by default, the API's JSON with ``--json``; a problem answer ends with exit code 1.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from services.cli.operator import (
    DEFAULT_API,
    Api,
    ApiUrl,
    JsonOut,
    Token,
    _account,
    _amount,
    _idempotency_key,
    _show,
    _shown,
    account_listing,
)

LIMIT_COLUMNS = ("limit", "period", "limit_amount", "used", "allowed", "period_start", "pending")
CHANGE_COLUMNS = ("kind", "user_id", "currency", "limit", "period", "limit_amount", "effective_at")
HISTORY_COLUMNS = (
    "requested_at",
    "change",
    "limit_kind",
    "period",
    "amount",
    "exclusion",
    "until",
    "effective_at",
    "requested_by",
    "reason",
)
EXCLUSION_COLUMNS = ("kind", "user_id", "currency", "exclusion", "since", "until")

Reason = Annotated[str, typer.Option("--reason", help="Why (kept with the change).")]
By = Annotated[str, typer.Option("--by", help="Who asked (kept with the change).")]
Key = Annotated[
    str | None, typer.Option("--key", help="Idempotency-Key (default: a new one, printed).")
]
Period = Annotated[
    str,
    typer.Argument(help="day, week or month (deposit, wager, loss); bet (max_bet)."),
]


def _keyed(key: str | None, as_json: bool) -> dict[str, str]:
    idempotency_key = _idempotency_key(key)
    if not as_json:
        print(f"Idempotency-Key: {idempotency_key}", file=sys.stderr)
    return {"Idempotency-Key": idempotency_key}


def _pending(item: dict[str, Any]) -> dict[str, Any]:
    pending = item.get("pending")
    if pending is None:
        return item
    becomes = "removed" if pending["amount"] is None else pending["amount"]
    return {**item, "pending": f"{becomes} from {pending['effective_at']}"}


def register(app: typer.Typer) -> None:
    limits = typer.Typer(
        help="Show, set and remove a player's limits (deposit, wager, loss, max_bet).",
        no_args_is_help=True,
    )
    app.add_typer(limits, name="limits")

    @limits.command("show")
    def show(
        user_id: str,
        currency: str,
        api: ApiUrl = DEFAULT_API,
        token: Token = "",
        as_json: JsonOut = False,
    ) -> None:
        """The limits in force, used and still allowed this period, and the exclusion."""
        answer = Api(api, token, as_json).call("GET", f"{_account(user_id, currency)}/limits")
        rows = [_pending(item) for item in answer["limits"]]
        _show(as_json, answer, f"limits of {user_id} {currency}", rows, LIMIT_COLUMNS)
        exclusion = answer.get("exclusion")
        if not as_json and exclusion is not None:
            until = exclusion["until"] or "indefinitely"
            print(f"excluded ({exclusion['kind']}) since {exclusion['since']} until {until}")

    @limits.command("set")
    def set_(  # noqa: PLR0917 - typer: one parameter per CLI option
        user_id: str,
        currency: str,
        limit: Annotated[str, typer.Argument(help="deposit, wager, loss or max_bet.")],
        period: Period,
        amount: Annotated[str, typer.Argument(help="Decimal amount in major units.")],
        reason: Reason,
        by: By,
        key: Key = None,
        api: ApiUrl = DEFAULT_API,
        token: Token = "",
        as_json: JsonOut = False,
    ) -> None:
        """Set a limit: lower or new at once, higher after the cooling-off period."""
        path = f"{_account(user_id, currency)}/limits"
        body = {"limit": limit, "period": period, "amount": _amount(amount)}
        body |= {"reason": reason, "requested_by": by}
        headers = _keyed(key, as_json)
        _shown(
            api, token, as_json, "PUT", path, "limit", CHANGE_COLUMNS, body=body, headers=headers
        )

    @limits.command("remove")
    def remove(  # noqa: PLR0917 - typer: one parameter per CLI option
        user_id: str,
        currency: str,
        limit: Annotated[str, typer.Argument(help="deposit, wager, loss or max_bet.")],
        period: Period,
        reason: Reason,
        by: By,
        key: Key = None,
        api: ApiUrl = DEFAULT_API,
        token: Token = "",
        as_json: JsonOut = False,
    ) -> None:
        """Remove a limit: it stays in force for the cooling-off period."""
        path = f"{_account(user_id, currency)}/limits"
        body = {"limit": limit, "period": period, "reason": reason, "requested_by": by}
        headers = _keyed(key, as_json)
        _shown(
            api, token, as_json, "DELETE", path, "limit", CHANGE_COLUMNS, body=body, headers=headers
        )

    account_listing(
        limits,
        "history",
        "limits/history",
        "protection history",
        HISTORY_COLUMNS,
        doc="Every change of the account's limits and exclusions, oldest first.",
    )

    @app.command("exclude")
    def exclude(  # noqa: PLR0917 - typer: one parameter per CLI option
        user_id: str,
        currency: str,
        reason: Reason,
        by: By,
        until: Annotated[
            str | None,
            typer.Option(help="End (ISO 8601 with offset); none: indefinitely."),
        ] = None,
        time_out: Annotated[
            bool, typer.Option("--time-out", help="A time-out (needs --until).")
        ] = False,
        key: Key = None,
        api: ApiUrl = DEFAULT_API,
        token: Token = "",
        as_json: JsonOut = False,
    ) -> None:
        """Self-exclude a player (or time them out): bets, deposits and launches are refused
        until the end; an exclusion is never lifted early."""
        path = f"{_account(user_id, currency)}/exclusion"
        body = {
            "kind": "time_out" if time_out else "self_exclusion",
            "until": until,
            "reason": reason,
            "requested_by": by,
        }
        headers = _keyed(key, as_json)
        _shown(
            api,
            token,
            as_json,
            "POST",
            path,
            "exclusion",
            EXCLUSION_COLUMNS,
            body=body,
            headers=headers,
        )
