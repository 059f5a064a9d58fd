"""The long-running services as the code defines them: settings class, listen port and bind
host fields, and the folders whose code registers their HTTP routes."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from pydantic_settings import BaseSettings

from tests.deploy.manifests import ROOT

PROBE_PATHS = ("/healthz", "/readyz", "/metrics")


@dataclass(frozen=True)
class ServiceCode:
    """Where a long-running service's settings and HTTP routes live in the code."""

    settings: str
    port_field: str
    host_field: str
    code: tuple[str, ...]

    def settings_class(self) -> type[BaseSettings]:
        module, _, name = self.settings.partition(":")
        return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]

    @property
    def prefix(self) -> str:
        return str(self.settings_class().model_config.get("env_prefix", "")).upper()

    def listen_port(self, env: dict[str, str]) -> int:
        default = self.settings_class().model_fields[self.port_field].default
        return int(env.get(self.prefix + self.port_field.upper(), default))

    def bind_host(self, env: dict[str, str]) -> str:
        default = self.settings_class().model_fields[self.host_field].default
        return env.get(self.prefix + self.host_field.upper(), default)  # type: ignore[no-any-return]

    def routed_paths(self) -> set[str]:
        """Probe paths written as string literals in the service's code or in shared/."""
        sources = [ROOT / folder for folder in self.code] + [ROOT / "shared"]
        text = "\n".join(
            path.read_text()
            for folder in sources
            if folder.exists()
            for path in folder.rglob("*.py")
        )
        return {path for path in PROBE_PATHS if f'"{path}"' in text}


SERVICES = {
    "ingress": ServiceCode(
        "services.ingress.settings:IngressSettings", "port", "host", ("services/ingress",)
    ),
    "ledger": ServiceCode(
        "services.ledger.settings:LedgerSettings",
        "metrics_port",
        "metrics_host",
        ("services/ledger",),
    ),
    "relay": ServiceCode(
        "services.ledger.settings:LedgerSettings",
        "relay_metrics_port",
        "metrics_host",
        ("services/ledger", "services/relay"),
    ),
    "reconciler": ServiceCode(
        "services.reconciler.settings:ReconcilerSettings",
        "metrics_port",
        "metrics_host",
        ("services/reconciler",),
    ),
    "operator-api": ServiceCode(
        "services.operator_api.settings:OperatorApiSettings",
        "port",
        "host",
        ("services/operator_api",),
    ),
    "simulator": ServiceCode(
        "services.simulator.settings:SimulatorSettings", "port", "host", ("services/simulator",)
    ),
}
