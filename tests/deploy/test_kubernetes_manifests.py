"""Every Kubernetes manifest validates against the Kubernetes schemas, and the rendered
overlays keep the rules production depends on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from shared.contracts import topics
from tests.deploy.manifests import (
    K8S,
    KUSTOMIZATIONS,
    OVERLAYS,
    container_env,
    containers,
    declared_topics,
    is_operator_resource,
    manifest_files,
    pod_spec,
    rendered,
    services_of,
)

# The oldest Kubernetes minor still commonly run, and the newest the schemas package knows.
KUBERNETES_VERSIONS = ["1.29.0", kubernetes_validate.utils.latest_version()]


def _label(path: Path) -> str:
    return str(path.relative_to(K8S))


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("folder", KUSTOMIZATIONS, ids=_label)
def test_every_rendered_resource_validates_against_the_strict_kubernetes_schema(
    folder: Path, version: str
) -> None:
    resources = [r for r in rendered(folder) if not is_operator_resource(r)]

    for resource in resources:
        kubernetes_validate.validate(resource, version, strict=True)

    assert resources


def kubernetes_manifest_files() -> list[Path]:
    """The manifest files of Kubernetes's own kinds (the Prometheus Operator's resources are
    checked in tests/deploy/test_kubernetes_operations.py)."""
    return [
        path
        for path in manifest_files()
        if not any(is_operator_resource(doc) for doc in yaml.safe_load_all(path.read_text()) if doc)
    ]


@pytest.mark.parametrize("path", kubernetes_manifest_files(), ids=_label)
def test_every_manifest_file_validates_on_its_own(path: Path) -> None:
    documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]

    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSIONS[-1], strict=True)

    assert documents


@pytest.mark.parametrize("folder", OVERLAYS, ids=_label)
def test_every_container_runs_as_non_root_with_a_read_only_root_filesystem(folder: Path) -> None:
    workloads = [resource for resource in rendered(folder) if containers(resource)]

    for workload in workloads:
        pod = pod_spec(workload)
        assert pod is not None
        assert pod["securityContext"]["runAsNonRoot"] is True, workload["metadata"]["name"]
        assert pod["automountServiceAccountToken"] is False, workload["metadata"]["name"]
        for container in containers(workload):
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, container["name"]
            assert security["allowPrivilegeEscalation"] is False, container["name"]
            assert security["capabilities"]["drop"] == ["ALL"], container["name"]
    assert workloads


@pytest.mark.parametrize("folder", OVERLAYS, ids=_label)
def test_every_container_has_resource_requests_and_limits(folder: Path) -> None:
    all_containers = [c for resource in rendered(folder) for c in containers(resource)]

    for container in all_containers:
        assert set(container["resources"]["requests"]) == {"cpu", "memory"}, container["name"]
        assert set(container["resources"]["limits"]) == {"cpu", "memory"}, container["name"]
    assert all_containers


@pytest.mark.parametrize("folder", OVERLAYS, ids=_label)
def test_every_service_probes_healthz_for_liveness_and_readyz_for_readiness(
    folder: Path,
) -> None:
    deployments = services_of(rendered(folder))

    for deployment in deployments:
        for container in containers(deployment):
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert len(deployments) >= 5


@pytest.mark.parametrize("folder", OVERLAYS, ids=_label)
def test_no_secret_value_is_committed_only_references_to_the_secret(folder: Path) -> None:
    resources = rendered(folder)

    references = [
        item["valueFrom"]["secretKeyRef"]
        for resource in resources
        for container in containers(resource)
        for item in container.get("env", [])
        if "secretKeyRef" in item.get("valueFrom", {})
    ]

    assert not [r for r in resources if r["kind"] == "Secret"]
    assert {ref["name"] for ref in references} == {"hypeledger-secrets"}


@pytest.mark.parametrize("folder", OVERLAYS, ids=_label)
def test_ledger_replicas_do_not_exceed_the_partitions_of_the_command_topic(folder: Path) -> None:
    resources = {(r["kind"], r["metadata"]["name"]): r for r in rendered(folder)}
    ledger = resources[("StatefulSet", "hypeledger-ledger")]
    topics_job = resources[("Job", "hypeledger-topics")]

    partitions = int(container_env(containers(topics_job)[0])["PARTITIONS_COMMANDS"] or 0)

    assert 1 <= ledger["spec"]["replicas"] <= partitions


@pytest.mark.parametrize("folder", OVERLAYS, ids=_label)
def test_the_ingress_scales_with_an_autoscaler_on_its_deployment(folder: Path) -> None:
    autoscalers = [r for r in rendered(folder) if r["kind"] == "HorizontalPodAutoscaler"]

    targets = {hpa["spec"]["scaleTargetRef"]["name"] for hpa in autoscalers}

    assert targets == {"hypeledger-ingress"}


@pytest.mark.parametrize("folder", OVERLAYS, ids=_label)
def test_every_multi_replica_service_has_a_disruption_budget_selecting_it(folder: Path) -> None:
    resources = rendered(folder)
    budgets = [
        pdb["spec"]["selector"]["matchLabels"]
        for pdb in resources
        if pdb["kind"] == "PodDisruptionBudget"
    ]

    multi = [
        r
        for r in services_of(resources)
        if r["spec"].get("strategy", r["spec"].get("updateStrategy", {}))["type"] == "RollingUpdate"
    ]

    for deployment in multi:
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        name = deployment["metadata"]["name"]
        assert any(selector.items() <= labels.items() for selector in budgets), name
    assert multi


def test_topic_declarations_cover_exactly_the_contract_topics() -> None:
    names = {topic["name"] for topic in declared_topics()}

    assert names == {
        topics.COMMANDS,
        topics.COMMANDS_DLQ,
        topics.TRANSACTIONS,
        topics.RECONCILIATION,
    }


def test_in_dev_the_simulator_signs_the_url_the_ingress_verifies_and_is_the_hypetech_api() -> None:
    resources = {(r["kind"], r["metadata"]["name"]): r for r in rendered(K8S / "overlays" / "dev")}
    config = resources[("ConfigMap", "hypeledger-config")]["data"]
    simulator = containers(resources[("Deployment", "hypeledger-simulator")])[0]

    env = container_env(simulator)
    keys = {
        item["name"]: item["valueFrom"]["secretKeyRef"]["key"]
        for item in simulator["env"]
        if "valueFrom" in item
    }

    assert env["HYPELEDGER_SIMULATOR_WEBHOOK_BASE_URL"] == config["HYPELEDGER_PUBLIC_BASE_URL"]
    assert (
        config["HYPELEDGER_HYPETECH_BASE_URL"] == "http://hypeledger-simulator.hypeledger-dev.svc"
    )
    assert keys == {
        "HYPELEDGER_SIMULATOR_WEBHOOK_API_KEY": "hypetech-api-keys",
        "HYPELEDGER_SIMULATOR_API_TOKEN": "hypetech-api-token",
    }


@pytest.mark.parametrize(
    ("overlay", "replication", "partitions"), [("production", "3", "24"), ("dev", "1", "4")]
)
def test_each_overlay_declares_its_replication_factor_and_command_partitions(
    overlay: str, replication: str, partitions: str
) -> None:
    resources = {
        (r["kind"], r["metadata"]["name"]): r for r in rendered(K8S / "overlays" / overlay)
    }

    env = container_env(containers(resources[("Job", "hypeledger-topics")])[0])

    assert env["REPLICATION_FACTOR"] == replication
    assert env["PARTITIONS_COMMANDS"] == partitions


def _selects(policy: dict[str, Any], labels: dict[str, str]) -> bool:
    selector = policy["spec"]["podSelector"]
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    return all(
        labels.get(rule["key"]) in rule["values"]
        for rule in selector.get("matchExpressions", [])
        if rule["operator"] == "In"
    )


@pytest.mark.parametrize("folder", OVERLAYS, ids=_label)
def test_network_policies_deny_by_default_and_admit_each_pod_on_its_own_ports(
    folder: Path,
) -> None:
    resources = rendered(folder)
    policies = [r for r in resources if r["kind"] == "NetworkPolicy"]
    deny_all = [p for p in policies if "ingress" not in p["spec"]]
    admitted: dict[str, set[int]] = {}
    unadmitted: dict[str, set[int]] = {}

    for deployment in services_of(resources):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        ports = {p["containerPort"] for c in containers(deployment) for p in c.get("ports", [])}
        opened = {
            port["port"]
            for policy in policies
            if _selects(policy, labels)
            for rule in policy["spec"].get("ingress", [])
            for port in rule.get("ports", [])
        }
        admitted[deployment["metadata"]["name"]] = opened
        unadmitted[deployment["metadata"]["name"]] = ports - opened

    assert deny_all
    assert all(p["spec"]["policyTypes"] == ["Ingress"] for p in deny_all)
    assert all(admitted.values())
    assert {name: ports for name, ports in unadmitted.items() if ports} == {}


@pytest.mark.parametrize("folder", OVERLAYS, ids=_label)
def test_the_ledger_is_a_static_group_member_named_after_its_stable_pod_name(folder: Path) -> None:
    resources = {(r["kind"], r["metadata"]["name"]): r for r in rendered(folder)}
    ledger = resources[("StatefulSet", "hypeledger-ledger")]
    governing = resources[("Service", ledger["spec"]["serviceName"])]

    (container,) = containers(ledger)
    (instance_id,) = [e for e in container["env"] if e["name"] == "HYPELEDGER_INSTANCE_ID"]

    # A StatefulSet's pods keep their names (hypeledger-ledger-0, -1, ...) across restarts and
    # rolling updates: the name is the member's group.instance.id, so a replaced replica takes
    # its own partitions back without a rebalance.
    assert instance_id["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert ledger["spec"]["updateStrategy"]["type"] == "RollingUpdate"
    assert ledger["spec"]["podManagementPolicy"] == "Parallel"
    assert governing["spec"]["clusterIP"] == "None"
    assert governing["spec"]["selector"].items() <= (
        ledger["spec"]["template"]["metadata"]["labels"].items()
    )
    assert ("Deployment", "hypeledger-ledger") not in resources
