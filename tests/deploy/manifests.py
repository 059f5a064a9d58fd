"""Where the deploy files are, and small readers over them shared by the deploy tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.kustomize_subset import pod_spec, render

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
TOPICS_FILE = K8S / "base" / "topics" / "topics.json"
CREATE_TOPICS = K8S / "base" / "topics" / "create_topics.py"
OVERLAYS = sorted(path.parent for path in (K8S / "overlays").glob("*/kustomization.yaml"))
KUSTOMIZATIONS = [K8S / "base", *OVERLAYS]


def manifest_files() -> list[Path]:
    """Every Kubernetes manifest file under deploy/k8s (kustomization files excluded)."""
    return sorted(path for path in K8S.rglob("*.yaml") if path.name != "kustomization.yaml")


def rendered(folder: Path) -> list[dict[str, Any]]:
    return render(folder)


def containers(resource: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(resource)
    if spec is None:
        return []
    return list(spec.get("containers", [])) + list(spec.get("initContainers", []))


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())  # type: ignore[no-any-return]


def declared_topics() -> list[dict[str, Any]]:
    return json.loads(TOPICS_FILE.read_text())["topics"]  # type: ignore[no-any-return]


def container_env(container: dict[str, Any]) -> dict[str, str | None]:
    """Plain env values of a container (None for values taken from a Secret or the pod)."""
    return {item["name"]: item.get("value") for item in container.get("env", [])}


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str, str]]:
    """(stage, instruction, arguments) for each instruction, continuation lines joined."""
    instructions: list[tuple[str, str, str]] = []
    stage, pending = "", ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text, pending = pending + line, ""
        instruction, _, arguments = text.partition(" ")
        if instruction.upper() == "FROM":
            stage = arguments.split()[-1] if " AS " in arguments.upper() else arguments
        instructions.append((stage, instruction.upper(), arguments.strip()))
    return instructions


def image_env() -> dict[str, str]:
    """The ENV the final image sets (what every container starts with)."""
    final = dockerfile_instructions()[-1][0]
    env: dict[str, str] = {}
    for stage, instruction, arguments in dockerfile_instructions():
        if stage == final and instruction == "ENV":
            for item in arguments.split():
                key, _, value = item.partition("=")
                env[key] = value
    return env
