"""Where the deploy files are, and small readers over them shared by the deploy tests."""

from __future__ import annotations

import copy
import functools
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

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


POD_TEMPLATE_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})
#: The kinds that run hypeledger's long-running services (the ledger is a StatefulSet).
SERVICE_KINDS = frozenset({"Deployment", "StatefulSet"})


def services_of(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The workloads that run a long-running service (not Jobs or CronJobs)."""
    return [r for r in resources if r["kind"] in SERVICE_KINDS]


def rendered(folder: Path) -> list[dict[str, Any]]:
    """Every resource the kustomization in ``folder`` produces, as ``kubectl kustomize`` renders
    it (the kustomize built into kubectl, the one ``kubectl apply -k`` uses)."""
    return copy.deepcopy(_kustomize(folder))


@functools.cache
def _kustomize(folder: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    assert kubectl is not None, "the deploy tests render overlays with kubectl; install it"
    done = subprocess.run(
        [kubectl, "kustomize", str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,  # the assertion below shows kustomize's error
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


#: API group of the Prometheus Operator's resources, which the Kubernetes schemas do not know.
OPERATOR_GROUP = "monitoring.coreos.com/"


def is_operator_resource(resource: dict[str, Any]) -> bool:
    return str(resource.get("apiVersion", "")).startswith(OPERATOR_GROUP)


def pod_spec(resource: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec inside a workload, or None for kinds without one."""
    if resource["kind"] in POD_TEMPLATE_KINDS:
        return resource["spec"]["template"]["spec"]  # type: ignore[no-any-return]
    if resource["kind"] == "CronJob":
        return resource["spec"]["jobTemplate"]["spec"]["template"]["spec"]  # type: ignore[no-any-return]
    if resource["kind"] == "Pod":
        return resource["spec"]  # type: ignore[no-any-return]
    return None


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
