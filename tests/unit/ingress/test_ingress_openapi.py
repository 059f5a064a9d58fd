"""The webhook API's OpenAPI document states the currencies the ingress accepts."""

from __future__ import annotations

from services.ingress.app import webhook_routes
from services.ingress.openapi import build_openapi
from services.ingress.settings import IngressSettings
from shared.currencies import ISO_4217_EXPONENTS


def test_every_webhook_names_its_currency_by_the_iso_codes_it_accepts() -> None:
    settings = IngressSettings(environment="test")
    document = build_openapi(webhook_routes(settings), settings.public_base_url)

    currencies = [
        parameter["schema"]
        for operations in document["paths"].values()
        for operation in operations.values()
        for parameter in operation.get("parameters", [])
        if parameter["name"] == "currency"
    ] + [
        operation["requestBody"]["content"]["application/json"]["schema"]["properties"]["currency"]
        for operations in document["paths"].values()
        for operation in operations.values()
        if "requestBody" in operation
    ]

    assert len(currencies) >= 10
    assert all(c == {"$ref": "#/components/schemas/CurrencyCode"} for c in currencies)
    assert document["components"]["schemas"]["CurrencyCode"]["enum"] == sorted(ISO_4217_EXPONENTS)
