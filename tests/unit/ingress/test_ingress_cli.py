"""``hypeledger ingress --print-openapi`` prints the document kept in the repo."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from services.cli.main import app

REPO = Path(__file__).resolve().parents[3]


def test_prints_the_openapi_document_kept_in_the_repo() -> None:
    result = CliRunner().invoke(
        app, ["ingress", "--print-openapi"], env={"HYPELEDGER_ENVIRONMENT": "test"}
    )

    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == json.loads(
        (REPO / "docs" / "ingress-openapi.json").read_text()
    )
