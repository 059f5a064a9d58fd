"""Reconciliation findings: listed with filters, and their status changed with who and why."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from tests.integration.operator_api.conftest import Stack
from tests.integration.stored_findings import a_finding

pytestmark = pytest.mark.integration


async def test_findings_are_listed_by_session_with_their_evidence(
    stack: Stack, db_pool: asyncpg.Pool
) -> None:
    session_id = uuid.uuid4().hex
    finding_id = await a_finding(db_pool, session_id)

    response = await stack.api.get("/findings", params={"session_id": session_id})

    (item,) = response.json()["items"]
    assert (item["finding_id"], item["class"], item["status"]) == (
        finding_id,
        "missing_in_ledger",
        "open",
    )
    assert item["provider_row"] == {"transactionId": "559", "amount": "2.5"}


async def test_findings_are_paged_newest_first(stack: Stack, db_pool: asyncpg.Pool) -> None:
    session_id = uuid.uuid4().hex
    ids = [await a_finding(db_pool, session_id) for _ in range(5)]

    first = (await stack.api.get("/findings", params={"session_id": session_id, "limit": 3})).json()
    second = (
        await stack.api.get(
            "/findings",
            params={"session_id": session_id, "limit": 3, "cursor": first["next_cursor"]},
        )
    ).json()

    listed = [f["finding_id"] for f in first["items"] + second["items"]]
    assert listed == sorted(ids, reverse=True)
    assert second["next_cursor"] is None


async def test_resolving_a_finding_records_who_changed_it(
    stack: Stack, db_pool: asyncpg.Pool
) -> None:
    finding_id = await a_finding(db_pool, uuid.uuid4().hex)

    response = await stack.api.post(
        f"/findings/{finding_id}/status",
        json={"status": "resolved", "changed_by": "ana@casino", "note": "credited by hand"},
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["status_changed_by"], body["version"]) == (
        "resolved",
        "ana@casino",
        2,
    )
    assert [(c["from_status"], c["to_status"], c["changed_by"]) for c in body["changes"]] == [
        ("open", "resolved", "ana@casino")
    ]


async def test_the_status_filter_lists_only_that_status(
    stack: Stack, db_pool: asyncpg.Pool
) -> None:
    session_id = uuid.uuid4().hex
    ignored = await a_finding(db_pool, session_id)
    await a_finding(db_pool, session_id)
    await stack.api.post(
        f"/findings/{ignored}/status", json={"status": "ignored", "changed_by": "bo"}
    )

    response = await stack.api.get(
        "/findings", params={"session_id": session_id, "status": "ignored"}
    )

    assert [f["finding_id"] for f in response.json()["items"]] == [ignored]


async def test_setting_the_status_it_already_has_changes_nothing(
    stack: Stack, db_pool: asyncpg.Pool
) -> None:
    finding_id = await a_finding(db_pool, uuid.uuid4().hex)

    response = await stack.api.post(
        f"/findings/{finding_id}/status", json={"status": "open", "changed_by": "bo"}
    )

    assert (response.json()["version"], response.json()["changes"]) == (1, [])


async def test_an_unknown_status_is_an_invalid_field(stack: Stack, db_pool: asyncpg.Pool) -> None:
    finding_id = await a_finding(db_pool, uuid.uuid4().hex)

    response = await stack.api.post(
        f"/findings/{finding_id}/status", json={"status": "fixed", "changed_by": "bo"}
    )

    assert response.status_code == 400
    assert response.json()["field"] == "status"


async def test_changing_an_unknown_finding_is_not_found(stack: Stack) -> None:
    response = await stack.api.post(
        "/findings/999999999/status", json={"status": "resolved", "changed_by": "bo"}
    )

    assert response.status_code == 404
