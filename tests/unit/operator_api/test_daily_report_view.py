"""The daily report's rendering: amounts in each currency's decimals, and a currency this service
does not know left out and named, never a 500."""

from __future__ import annotations

from datetime import date

from services.operator_api.ports import DayTotals
from services.operator_api.reports import report_view
from shared.currencies import CurrencyTable


def totals(currency: str, stakes: int) -> DayTotals:
    return DayTotals(
        game="aviador",
        currency=currency,
        stakes=stakes,
        wins=250,
        refunds=0,
        free_bet_stakes=0,
        free_bet_wins=0,
        bets=3,
        players=2,
    )


def test_a_currency_the_table_does_not_know_is_named_apart_and_left_out_of_the_items() -> None:
    view = report_view(
        date(2026, 12, 6),
        "UTC",
        [totals("USD", 1000), totals("USDT", 5_000_000), totals("JPY", 700)],
        CurrencyTable(),
    )

    assert [(item["currency"], item["stakes"], item["ggr"]) for item in view["items"]] == [
        ("JPY", "700", "450"),
        ("USD", "10.00", "7.50"),
    ]
    assert view["unpriced_currencies"] == ["USDT"]


def test_a_currency_added_to_the_table_is_reported_in_its_decimals() -> None:
    view = report_view(
        date(2026, 12, 6), "UTC", [totals("USDT", 5_000_000)], CurrencyTable({"USDT": 6})
    )

    assert view["items"][0]["stakes"] == "5.000000"
    assert view["unpriced_currencies"] == []
