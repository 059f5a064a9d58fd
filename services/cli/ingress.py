"""``hypeledger ingress``: serve Hypetech's webhooks (uvicorn, uvloop, httptools, with bounds)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("ingress")
    def ingress(
        host: str | None = typer.Option(None, help="Listen address (default HYPELEDGER_HOST)."),
        port: int | None = typer.Option(None, help="Listen port (default HYPELEDGER_PORT)."),
        workers: int = typer.Option(
            1, min=1, help="Worker processes, each with its own reply topic (uses more cores)."
        ),
        print_openapi: bool = typer.Option(
            False, "--print-openapi", help="Print the webhook API's OpenAPI document and exit."
        ),
    ) -> None:
        """Serve the signed webhooks: verify, normalise, ask the ledger, answer its decision."""
        from shared.runtime import collector_paused  # noqa: PLC0415 - keep --help fast

        with collector_paused():  # a restart is mostly these imports
            from services.ingress.app import server_of  # noqa: PLC0415
            from services.ingress.settings import IngressSettings  # noqa: PLC0415
            from shared.http_server import run  # noqa: PLC0415

        settings = IngressSettings()
        if print_openapi:
            import json  # noqa: PLC0415

            from services.ingress.app import webhook_routes  # noqa: PLC0415
            from services.ingress.openapi import build_openapi  # noqa: PLC0415

            document = build_openapi(webhook_routes(settings), settings.public_base_url)
            print(json.dumps(document, indent=2))
            return
        run(server_of(settings, host=host, port=port, workers=workers))
