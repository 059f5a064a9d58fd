"""``hypeledger operator-api`` (the server) and the people-facing commands that call it over HTTP:
``accounts``, ``deposit``, ``withdraw``, ``balance``, ``history``, ``launch``, ``free-bets``.

Every command prints a table (rich) or, with ``--json``, the API's JSON exactly as answered. A
problem answer is printed and ends the command with exit code 3 (refused) or 4 (unavailable: 5xx,
429, or the API cannot be reached); see ``services/cli/conventions.py``.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from services.cli.conventions import ExitCode, TransactionKind, exit_code_for_status, fail, iso_time

if TYPE_CHECKING:
    import httpx

API_URL = typer.Option(
    "--api",
    envvar="HYPELEDGER_OPERATOR_API_URL",
    help="Base URL of the operator API.",
)
TOKEN = typer.Option(
    "--token",
    envvar="HYPELEDGER_OPERATOR_TOKEN",
    help="Bearer token (one of the API's HYPELEDGER_OPERATOR_TOKENS).",
)
JSON_OUT = typer.Option("--json", help="Print the API's JSON answer instead of a table.")

DEFAULT_API = "http://127.0.0.1:8081"

ApiUrl = Annotated[str, API_URL]
Token = Annotated[str, TOKEN]
JsonOut = Annotated[bool, JSON_OUT]


class Api:
    """A small synchronous client of the operator API for the commands below."""

    def __init__(self, base_url: str, token: str, as_json: bool) -> None:
        import httpx  # noqa: PLC0415 - keep `hypeledger --help` fast

        self.http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"} if token else {},
            timeout=30.0,
        )
        self.as_json = as_json

    def call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        import httpx  # noqa: PLC0415

        try:
            response = self.http.request(
                method,
                path,
                content=None if body is None else json.dumps(body).encode(),
                params={k: v for k, v in (params or {}).items() if v is not None},
                headers={"Content-Type": "application/json", **(headers or {})},
            )
        except httpx.HTTPError as exc:
            fail(
                f"cannot reach the operator API at {self.http.base_url}: {exc}",
                ExitCode.UNAVAILABLE,
            )
        return self._answer(response)

    def _answer(self, response: httpx.Response) -> dict[str, Any]:
        try:
            payload = response.json(parse_float=str)
        except ValueError:
            payload = {"detail": response.text}
        if response.status_code >= 400:
            code = exit_code_for_status(response.status_code)
            if self.as_json:
                print(response.text)
                raise typer.Exit(int(code))
            title = payload.get("title", f"HTTP {response.status_code}")
            fail(f"{title} ({response.status_code}): {payload.get('detail', '')}", code)
        if not isinstance(payload, dict):
            payload = {"value": payload}
        return payload


def _checked(rule: Callable[[object, str], str], value: object, field: str) -> str:
    """``value`` kept by one of ``shared.identifiers``' rules (the API's own), else a usage
    error (exit 2)."""
    from shared.identifiers import InvalidIdentifier  # noqa: PLC0415

    try:
        return rule(value, field)
    except InvalidIdentifier as exc:
        fail(str(exc), ExitCode.USAGE)


def _user(user_id: str) -> str:
    """The player's id, checked and percent-encoded as one path segment."""
    from urllib.parse import quote  # noqa: PLC0415

    from shared import identifiers  # noqa: PLC0415

    return quote(_checked(identifiers.user_id, user_id, "user_id"), safe="")


def _account(user_id: str, currency: str) -> str:
    """``/accounts/{user_id}/{currency}``, each checked by the API's rules."""
    from shared import identifiers  # noqa: PLC0415

    return f"/accounts/{_user(user_id)}/{_checked(identifiers.currency, currency, 'currency')}"


def _idempotency_key(key: str | None) -> str:
    """``--key``, checked by the API's rules, or a new one (``cli-<uuid>``)."""
    from shared import identifiers  # noqa: PLC0415

    return _checked(identifiers.idempotency_key, key or f"cli-{uuid.uuid4()}", "--key")


def _amount(value: str, field: str = "amount") -> str:
    """``value`` if it is ASCII decimal text (the API's rule), else a usage error (exit 2)."""
    from shared.money import InvalidAmount, to_decimal  # noqa: PLC0415

    try:
        to_decimal(value)
    except InvalidAmount as exc:
        fail(f"{field}: {exc}", ExitCode.USAGE)
    return value


def _show(
    as_json: bool,
    payload: dict[str, Any],
    title: str,
    rows: Iterable[dict[str, Any]] | None = None,
    columns: Sequence[str] = (),
) -> None:
    if as_json:
        print(json.dumps(payload, indent=2))
        return
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    items = list(rows) if rows is not None else [payload]
    names = list(columns) or sorted({key for item in items for key in item})
    table = Table(title=title)
    for name in names:
        table.add_column(
            name, justify="right" if name in {"amount", "balance", "value"} else "left"
        )
    for item in items:
        table.add_row(*("" if item.get(name) is None else str(item.get(name)) for name in names))
    Console().print(table)


def _shown(  # noqa: PLR0917 - the command's connection options, then what to print
    api: str,
    token: str,
    as_json: bool,
    method: str,
    path: str,
    title: str,
    columns: Sequence[str],
    *,
    listed: bool = False,
    body: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Call the operator API and print its answer (the table of its ``items`` when ``listed``, of
    the answer itself else; with ``--json`` the JSON); a problem answer ends the command."""
    answer = Api(api, token, as_json).call(method, path, body=body, params=params, headers=headers)
    _show(as_json, answer, title, answer["items"] if listed else None, columns)
    return answer


def account_listing(
    group: typer.Typer, name: str, segment: str, title: str, columns: Sequence[str], *, doc: str
) -> None:
    """Register ``name USER_ID CURRENCY``: the account's ``segment`` listing, as a table of
    ``columns`` titled ``<title> of USER_ID``."""

    @group.command(name)
    def listing(
        user_id: str,
        currency: str,
        api: ApiUrl = DEFAULT_API,
        token: Token = "",
        as_json: JsonOut = False,
    ) -> None:
        path = f"{_account(user_id, currency)}/{segment}"
        _shown(api, token, as_json, "GET", path, f"{title} of {user_id}", columns, listed=True)

    listing.__doc__ = doc


REPORT_COLUMNS = (
    "game", "currency", "stakes", "wins", "refunds", "free_bet_stakes", "free_bet_wins", "bets",
    "players", "ggr",
)  # fmt: skip
ACCOUNT_COLUMNS = ("user_id", "currency", "balance", "blocked", "updated_at")
#: The ledger's answer to an operator command.
REPLY_COLUMNS = (
    "kind",
    "user_id",
    "currency",
    "old_balance",
    "new_balance",
    "status",
    "operator_tx_id",
)
GRANT_COLUMNS = ("grant_id", "game", "bonus_code", "quantity", "remaining", "value", "expires_at")


def register(app: typer.Typer) -> None:
    _register_server(app)
    _register_accounts(app)
    _register_money(app)
    _register_reads(app)
    _register_free_bets(app)


def _register_server(app: typer.Typer) -> None:
    @app.command("operator-api")
    def operator_api(
        host: Annotated[
            str | None, typer.Option(help="Listen address (default from settings).")
        ] = None,
        port: Annotated[int | None, typer.Option(help="Listen port (default 8081).")] = None,
    ) -> None:
        """Run the operator API server (HYPELEDGER_* settings; default 127.0.0.1:8081)."""
        from services.operator_api.app import serve  # noqa: PLC0415
        from services.operator_api.settings import OperatorApiSettings  # noqa: PLC0415

        overrides: dict[str, Any] = {}
        if host is not None:
            overrides["host"] = host
        if port is not None:
            overrides["port"] = port
        serve(OperatorApiSettings(**overrides))


def _register_accounts(app: typer.Typer) -> None:
    accounts = typer.Typer(
        help="Create, show, block and unblock player accounts.", no_args_is_help=True
    )
    app.add_typer(accounts, name="accounts")

    @accounts.command("create")
    def create(
        user_id: str,
        currency: str,
        api: ApiUrl = DEFAULT_API,
        token: Token = "",
        as_json: JsonOut = False,
    ) -> None:
        """Create the account (USER_ID, CURRENCY)."""
        from shared import identifiers  # noqa: PLC0415

        body = {
            "user_id": _checked(identifiers.user_id, user_id, "user_id"),
            "currency": _checked(identifiers.currency, currency, "currency"),
        }
        _shown(
            api, token, as_json, "POST", "/accounts", "account created", REPLY_COLUMNS, body=body
        )

    @accounts.command("show")
    def show(
        user_id: str,
        currency: Annotated[str | None, typer.Argument()] = None,
        api: ApiUrl = DEFAULT_API,
        token: Token = "",
        as_json: JsonOut = False,
    ) -> None:
        """Show one account, or all of a player's accounts when no CURRENCY is given."""
        if currency is None:
            path, title = f"/players/{_user(user_id)}/accounts", f"accounts of {user_id}"
            _shown(api, token, as_json, "GET", path, title, ACCOUNT_COLUMNS, listed=True)
        else:
            path = _account(user_id, currency)
            _shown(api, token, as_json, "GET", path, "account", ACCOUNT_COLUMNS)

    def account_change(action: str) -> None:
        @accounts.command(action)
        def change(  # noqa: PLR0917 - typer: one parameter per CLI option
            user_id: str,
            currency: str,
            reason: Annotated[
                str | None, typer.Option(help="Why (kept with the decision).")
            ] = None,
            api: ApiUrl = DEFAULT_API,
            token: Token = "",
            as_json: JsonOut = False,
        ) -> None:
            path = f"{_account(user_id, currency)}/{action}"
            body = {"reason": reason}
            _shown(api, token, as_json, "POST", path, f"{action}ed", REPLY_COLUMNS, body=body)

        change.__doc__ = f"{action.capitalize()} the account (USER_ID, CURRENCY)."

    account_change("block")
    account_change("unblock")


def _register_money(app: typer.Typer) -> None:
    def movement(name: str, segment: str) -> None:
        @app.command(name)
        def move(  # noqa: PLR0917 - typer: one parameter per CLI option
            user_id: str,
            currency: str,
            amount: Annotated[
                str, typer.Argument(help="Decimal amount in major units, e.g. 25.00.")
            ],
            key: Annotated[
                str | None,
                typer.Option("--key", help="Idempotency-Key (default: a new one, printed)."),
            ] = None,
            reason: Annotated[
                str | None, typer.Option(help="Why (kept with the decision).")
            ] = None,
            api: ApiUrl = DEFAULT_API,
            token: Token = "",
            as_json: JsonOut = False,
        ) -> None:
            path = f"{_account(user_id, currency)}/{segment}"
            idempotency_key = _idempotency_key(key)
            answer = Api(api, token, as_json).call(
                "POST",
                path,
                body={"amount": _amount(amount), "reason": reason},
                headers={"Idempotency-Key": idempotency_key},
            )
            if not as_json:
                print(f"Idempotency-Key: {idempotency_key}", file=sys.stderr)
            _show(as_json, answer, name, None, REPLY_COLUMNS)

        move.__doc__ = (
            f"{name.capitalize()} AMOUNT (through the ledger; retry with the same --key)."
        )

    movement("deposit", "deposits")
    movement("withdraw", "withdrawals")


def _register_reads(app: typer.Typer) -> None:
    @app.command("balance")
    def balance(  # noqa: PLR0917 - typer: one parameter per CLI option
        user_id: str,
        currency: str,
        at: Annotated[
            str | None,
            typer.Option(
                parser=iso_time,
                metavar="TIME",
                help="The balance as of then (after every posting at or before it): ISO 8601"
                " with Z or an offset.",
            ),
        ] = None,
        api: ApiUrl = DEFAULT_API,
        token: Token = "",
        as_json: JsonOut = False,
    ) -> None:
        """The balance of (USER_ID, CURRENCY), now or --at a past time."""
        path = f"{_account(user_id, currency)}/balance"
        params = None if at is None else {"at": at}
        columns = ("user_id", "currency", "balance", "blocked" if at is None else "at")
        _shown(api, token, as_json, "GET", path, "balance", columns, params=params)

    report = typer.Typer(help="Reports of the ledger's records.", no_args_is_help=True)

    @report.command("daily")
    def daily(
        date: Annotated[
            str,
            typer.Option(
                "--date",
                metavar="DATE",
                help="The day, YYYY-MM-DD, in the"
                " operator's time zone (HYPELEDGER_LEDGER_TIME_ZONE of the operator API).",
            ),
        ],
        csv_out: Annotated[
            bool, typer.Option("--csv", help="Print CSV instead of a table.")
        ] = False,
        api: ApiUrl = DEFAULT_API,
        token: Token = "",
        as_json: JsonOut = False,
    ) -> None:
        """Per game and currency: stakes, wins, refunds, free bets, bets, players, GGR."""
        answer = Api(api, token, as_json).call("GET", "/reports/daily", params={"date": date})
        if csv_out and not as_json:
            import csv  # noqa: PLC0415 - keep `hypeledger --help` fast

            writer = csv.writer(sys.stdout)
            writer.writerow(["date", *REPORT_COLUMNS])
            for item in answer["items"]:
                writer.writerow([answer["date"], *(item[c] for c in REPORT_COLUMNS)])
            return
        title = f"daily report {answer.get('date')} ({answer.get('time_zone')})"
        _show(as_json, answer, title, answer["items"], REPORT_COLUMNS)

    app.add_typer(report, name="report")

    @app.command("history")
    def history(  # noqa: PLR0917 - typer: one parameter per CLI option
        user_id: str,
        currency: str,
        postings: Annotated[
            bool, typer.Option("--postings", help="Postings instead of transactions.")
        ] = False,
        kind: Annotated[TransactionKind | None, typer.Option(help="Only this kind.")] = None,
        round_id: Annotated[str | None, typer.Option("--round", help="Only this round.")] = None,
        session: Annotated[str | None, typer.Option(help="Only this session token.")] = None,
        since: Annotated[
            str | None,
            typer.Option(
                parser=iso_time, metavar="TIME", help="From then on: ISO 8601 with Z or an offset."
            ),
        ] = None,
        until: Annotated[
            str | None,
            typer.Option(
                parser=iso_time, metavar="TIME", help="Before then: ISO 8601 with Z or an offset."
            ),
        ] = None,
        limit: Annotated[int, typer.Option(min=1, max=500, help="Rows per page.")] = 50,
        cursor: Annotated[str | None, typer.Option(help="next_cursor of a previous page.")] = None,
        all_pages: Annotated[
            bool, typer.Option("--all", help="Follow next_cursor to the end.")
        ] = False,
        api: ApiUrl = DEFAULT_API,
        token: Token = "",
        as_json: JsonOut = False,
    ) -> None:
        """A player's transactions (or postings), newest first."""
        client = Api(api, token, as_json)
        listing = "postings" if postings else "transactions"
        params: dict[str, Any] = {
            "kind": None if kind is None else kind.value,
            "round_id": round_id,
            "session_token": session,
            "since": since,
            "until": until,
            "limit": limit,
            "cursor": cursor,
        }
        items: list[dict[str, Any]] = []
        while True:
            answer = client.call("GET", f"{_account(user_id, currency)}/{listing}", params=params)
            items.extend(answer["items"])
            params["cursor"] = answer["next_cursor"]
            if not all_pages or params["cursor"] is None:
                break
        payload = {"items": items, "next_cursor": params["cursor"]}
        columns = (
            ("created_at", "kind", "account_type", "amount", "round_id", "provider_tx_id")
            if postings
            else ("created_at", "kind", "amount", "round_id", "provider_tx_id", "operator_tx_id")
        )
        _show(as_json, payload, f"{listing} of {user_id} {currency}", items, columns)
        if not as_json and params["cursor"] is not None:
            print(f"more: --cursor {params['cursor']}", file=sys.stderr)

    @app.command("launch")
    def launch(  # noqa: PLR0917 - typer: one parameter per CLI option
        user_id: str,
        game: str,
        username: Annotated[str, typer.Option(help="Name shown in the game.")],
        currency: Annotated[
            str | None, typer.Option(help="Needed when the player has several.")
        ] = None,
        language: Annotated[str, typer.Option(help="UI language.")] = "en",
        avatar: Annotated[str | None, typer.Option(help="Avatar URL.")] = None,
        api: ApiUrl = DEFAULT_API,
        token: Token = "",
        as_json: JsonOut = False,
    ) -> None:
        """Open a game session for USER_ID in GAME and print its single-use game_url."""
        from shared import identifiers  # noqa: PLC0415

        body = {
            "user_id": _checked(identifiers.user_id, user_id, "user_id"),
            "game": game,
            "username": username,
            "currency": None
            if currency is None
            else _checked(identifiers.currency, currency, "currency"),
            "language": language,
            "avatar": avatar,
        }
        columns = ("game_url", "session_token", "currency", "balance", "expires_at")
        body = {k: v for k, v in body.items() if v is not None}
        _shown(api, token, as_json, "POST", "/sessions", "session", columns, body=body)


def _register_free_bets(app: typer.Typer) -> None:
    free_bets = typer.Typer(help="Grant and list free bets.", no_args_is_help=True)
    app.add_typer(free_bets, name="free-bets")

    @free_bets.command("grant")
    def grant(  # noqa: PLR0917 - typer: one parameter per CLI option
        user_id: str,
        currency: str,
        game: str,
        quantity: Annotated[int, typer.Option(help="How many free bets.")],
        value: Annotated[str, typer.Option(help="Value of each, decimal in major units.")],
        expires_at: Annotated[
            str,
            typer.Option(
                parser=iso_time, metavar="TIME", help="Expiry: ISO 8601 with Z or an offset."
            ),
        ],
        bonus_code: Annotated[str | None, typer.Option(help="Promo code.")] = None,
        max_multiplier: Annotated[str | None, typer.Option(help="Cash-out multiplier cap.")] = None,
        api: ApiUrl = DEFAULT_API,
        token: Token = "",
        as_json: JsonOut = False,
    ) -> None:
        """Grant free bets through Hypetech and record the grant."""
        from shared import identifiers  # noqa: PLC0415

        body: dict[str, Any] = {
            "user_id": _checked(identifiers.user_id, user_id, "user_id"),
            "currency": _checked(identifiers.currency, currency, "currency"),
            "game": game,
            "quantity": quantity,
            "value": _amount(value, "value"),
            "expires_at": expires_at,
            "bonus_code": bonus_code,
            "max_multiplier": None
            if max_multiplier is None
            else _amount(max_multiplier, "max_multiplier"),
        }
        body = {k: v for k, v in body.items() if v is not None}
        _shown(
            api, token, as_json, "POST", "/free-bets", "free bets granted", GRANT_COLUMNS, body=body
        )

    account_listing(
        free_bets,
        "list",
        "free-bets",
        "free bets",
        GRANT_COLUMNS,
        doc="A player's free-bet grants, newest first.",
    )
