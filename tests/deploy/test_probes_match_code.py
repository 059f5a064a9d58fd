"""Every probe, port and setting the deploy files use exists in the code: the services' own
settings classes (ports, bind hosts, variable names), their route tables and the CLI."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
import typer.main

from services.cli.main import app as cli_app
from tests.deploy.manifests import (
    OVERLAYS,
    SERVICE_KINDS,
    compose,
    container_env,
    containers,
    image_env,
    rendered,
)
from tests.deploy.service_code import SERVICES

DEFAULT_PATTERN = re.compile(r"\$\{[A-Z_]+:-([^}]*)\}")
REQUIRED_PATTERN = re.compile(r"\$\{[A-Z_]+:\?[^}]*\}")


ONE_SHOT_COMMANDS = {"migrate"}


@dataclass(frozen=True)
class Deployed:
    """One service as a deploy file runs it: its command, environment, probes and ports."""

    where: str
    command: str
    env: dict[str, str]
    own_env: frozenset[str]
    probes: tuple[tuple[str, int], ...]
    ports: frozenset[int]


def _kubernetes_deployed() -> list[Deployed]:
    found = []
    for folder in OVERLAYS:
        resources = rendered(folder)
        config = {
            r["metadata"]["name"]: r.get("data", {}) for r in resources if r["kind"] == "ConfigMap"
        }
        for resource in resources:
            if resource["kind"] not in SERVICE_KINDS:
                continue
            for container in containers(resource):
                env = dict(image_env())
                for source in container.get("envFrom", []):
                    env.update(config[source["configMapRef"]["name"]])
                own = {
                    k: v if v is not None else "<from the pod>"
                    for k, v in container_env(container).items()
                }
                env.update(own)
                named = {port["name"]: port["containerPort"] for port in container["ports"]}
                probes = tuple(
                    (
                        probe["httpGet"]["path"],
                        named.get(probe["httpGet"]["port"], probe["httpGet"]["port"]),
                    )
                    for key in ("startupProbe", "livenessProbe", "readinessProbe")
                    for probe in [container[key]]
                )
                annotations = resource["spec"]["template"]["metadata"].get("annotations", {})
                scrape = ("/metrics", int(annotations["prometheus.io/port"]))
                found.append(
                    Deployed(
                        where=f"{folder.name}/{resource['metadata']['name']}",
                        command=container["args"][0],
                        env=env,
                        own_env=frozenset(own),
                        probes=(*probes, scrape),
                        ports=frozenset(named.values()),
                    )
                )
    return found


def _compose_value(value: Any) -> str:
    text = str(value)
    if REQUIRED_PATTERN.search(text):
        return REQUIRED_PATTERN.sub("<secret>", text)
    return DEFAULT_PATTERN.sub(lambda match: match.group(1), text)


def _compose_deployed() -> list[Deployed]:
    found = []
    for name, service in compose()["services"].items():
        command = service.get("command", [None])[0]
        if command not in SERVICES:
            continue
        own = {key: _compose_value(value) for key, value in service["environment"].items()}
        env = {**image_env(), **own}
        found.append(
            Deployed(
                where=f"compose/{name}",
                command=command,
                env=env,
                own_env=frozenset(own),
                probes=(("/healthz", int(env["HEALTHCHECK_PORT"])),),
                ports=frozenset(int(port.rsplit(":", 1)[1]) for port in service["ports"]),
            )
        )
    return found


DEPLOYED = _kubernetes_deployed() + _compose_deployed()


def _where(deployed: Deployed) -> str:
    return deployed.where


def test_every_service_the_code_has_is_deployed_by_both_kubernetes_and_compose() -> None:
    kubernetes = {d.command for d in DEPLOYED if not d.where.startswith("compose/")}
    composed = {d.command for d in DEPLOYED if d.where.startswith("compose/")}

    assert kubernetes == set(SERVICES)
    assert composed == set(SERVICES)


@pytest.mark.parametrize("deployed", DEPLOYED, ids=_where)
def test_every_probe_targets_the_port_its_service_listens_on(deployed: Deployed) -> None:
    port = SERVICES[deployed.command].listen_port(deployed.env)

    assert {probe_port for _, probe_port in deployed.probes} == {port}
    assert port in deployed.ports


@pytest.mark.parametrize("deployed", DEPLOYED, ids=_where)
def test_every_service_listens_on_all_interfaces_inside_its_container(deployed: Deployed) -> None:
    host = SERVICES[deployed.command].bind_host(deployed.env)

    assert host == "0.0.0.0"  # noqa: S104 - a container must accept traffic from outside itself


@pytest.mark.parametrize("deployed", DEPLOYED, ids=_where)
def test_every_variable_given_to_a_service_is_one_of_its_settings(deployed: Deployed) -> None:
    service = SERVICES[deployed.command]
    fields = {service.prefix + field.upper() for field in service.settings_class().model_fields}

    given = {key for key in deployed.own_env if key.startswith("HYPELEDGER_")}

    assert given - fields == set()


@pytest.mark.parametrize("deployed", DEPLOYED, ids=_where)
def test_every_probe_path_is_a_route_its_service_registers(deployed: Deployed) -> None:
    routed = SERVICES[deployed.command].routed_paths()

    assert {path for path, _ in deployed.probes} <= routed


def test_every_command_the_deploy_files_run_is_a_hypeledger_command() -> None:
    commands = set(typer.main.get_command(cli_app).commands)  # type: ignore[attr-defined]

    assert set(SERVICES) | ONE_SHOT_COMMANDS <= commands
