"""A method a route does not take is answered 405 with the ``Allow`` header RFC 9110 requires."""

from __future__ import annotations

import pytest

from tests.unit.operator_api.conftest import Api


def allowed(header: str) -> set[str]:
    return {method.strip() for method in header.split(",")}


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/findings", {"GET", "HEAD"}),
        ("PUT", "/accounts", {"POST"}),
        ("GET", "/findings/7/status", {"POST"}),
        ("PATCH", "/accounts/p1/BRL/balance", {"GET", "HEAD"}),
        # Three methods on one path: Allow names them all, not the first route's.
        ("POST", "/accounts/p1/BRL/limits", {"GET", "HEAD", "PUT", "DELETE"}),
    ],
)
async def test_answers_a_method_the_route_does_not_take_with_405_and_allow(
    api: Api, method: str, path: str, allow: set[str]
) -> None:
    response = await api.http.request(method, path)

    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 405
    assert allowed(response.headers["allow"]) == allow
