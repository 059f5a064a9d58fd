from __future__ import annotations

import json
from pathlib import Path

from services.operator_api import openapi

COMMITTED = Path(__file__).parents[3] / "docs" / "operator-api.openapi.json"


def test_the_committed_openapi_document_is_the_served_one() -> None:
    committed = json.loads(COMMITTED.read_text())

    assert committed == openapi.document(), (
        "regenerate: python -m services.operator_api.openapi > docs/operator-api.openapi.json"
    )


def test_every_operation_documents_the_401_problem() -> None:
    paths = openapi.document()["paths"]

    missing = [
        f"{method} {path}"
        for path, operations in paths.items()
        for method, operation in operations.items()
        if operation.get("security") != [] and "401" not in operation["responses"]
    ]

    assert missing == []
