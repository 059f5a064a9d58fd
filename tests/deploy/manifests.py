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
