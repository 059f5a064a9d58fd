"""``hypeledger ingress``: serve Hypetech's webhooks (uvicorn, uvloop, httptools)."""

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
        import uvicorn  # noqa: PLC0415 - keep `hypeledger --help` fast

        from shared.settings import IngressSettings  # noqa: PLC0415

        settings = IngressSettings()
        if print_openapi:
            import json  # noqa: PLC0415

            from services.ingress.app import webhook_routes  # noqa: PLC0415
            from services.ingress.openapi import build_openapi  # noqa: PLC0415

            document = build_openapi(webhook_routes(settings), settings.public_base_url)
            print(json.dumps(document, indent=2))
            return
        uvicorn.run(
            "services.ingress.app:app_from_environment",
            factory=True,
            workers=workers,
            host=host or settings.host,
            port=port or settings.port,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            access_log=False,
            log_config=None,
            log_level="warning",
            timeout_graceful_shutdown=10,
        )
