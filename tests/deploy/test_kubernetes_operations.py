"""What running hypeledger on Kubernetes needs beyond the workloads: a drain delay on the HTTP
pods, the maintenance CronJobs, and the optional Prometheus Operator resources."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.ledger.settings import RECORDS_RETENTION_DAYS
from tests.deploy.manifests import (
    K8S,
    OVERLAYS,
    ROOT,
    containers,
    is_operator_resource,
    pod_spec,
    rendered,
    services_of,
)

ALERTS = ROOT / "deploy" / "monitoring" / "alerts.yaml"
MONITORING_OVERLAY = K8S / "overlays" / "production-monitoring"
#: Seconds the ingress's uvicorn gives in-flight requests after SIGTERM
#: (``timeout_graceful_shutdown`` in services/cli/ingress.py).
GRACEFUL_SHUTDOWN_S = 10
KUBERNETES_DEFAULT_GRACE_S = 30


def _label(path: Path) -> str:
    return str(path.relative_to(K8S))


def by_kind(resources: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in resources if r["kind"] == kind]


def selected(deployment: dict[str, Any], selector: dict[str, str]) -> bool:
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    return selector.items() <= labels.items()


def cron_args(resources: list[dict[str, Any]], name: str) -> list[str]:
    (cron,) = [r for r in by_kind(resources, "CronJob") if r["metadata"]["name"] == name]
    (container,) = containers(cron)
    return list(container["args"])


@pytest.mark.parametrize("folder", OVERLAYS, ids=_label)
def test_every_pod_behind_a_service_waits_before_it_stops(folder: Path) -> None:
    resources = rendered(folder)
    services = [s for s in by_kind(resources, "Service") if s["spec"].get("clusterIP") != "None"]
    behind = [
        d for d in services_of(resources) for s in services if selected(d, s["spec"]["selector"])
    ]

    for deployment in behind:
        spec = pod_spec(deployment)
        assert spec is not None
        for container in containers(deployment):
            command = container["lifecycle"]["preStop"]["exec"]["command"]
            assert command[0] == "sleep", container["name"]
            delay = int(command[1])
            assert delay > 0
            grace = spec.get("terminationGracePeriodSeconds", KUBERNETES_DEFAULT_GRACE_S)
            assert delay + GRACEFUL_SHUTDOWN_S < grace
    assert {d["metadata"]["name"] for d in behind} >= {
        "hypeledger-ingress",
        "hypeledger-operator-api",
    }


@pytest.mark.parametrize("folder", OVERLAYS, ids=_label)
def test_retention_runs_daily_one_at_a_time_keeping_five_years(folder: Path) -> None:
    resources = rendered(folder)
    (cron,) = [
        r for r in by_kind(resources, "CronJob") if r["metadata"]["name"].endswith("retention")
    ]

    args = cron_args(resources, cron["metadata"]["name"])

    assert args[0] == "retention"
    assert int(args[args.index("--days") + 1]) >= RECORDS_RETENTION_DAYS
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert len(shlex.split(cron["spec"]["schedule"])) == 5


@pytest.mark.parametrize("folder", OVERLAYS, ids=_label)
def test_chain_heads_are_recorded_daily_one_run_at_a_time(folder: Path) -> None:
    resources = rendered(folder)
    (cron,) = [
        r for r in by_kind(resources, "CronJob") if r["metadata"]["name"].endswith("chain-heads")
    ]

    fields = shlex.split(cron["spec"]["schedule"])

    assert cron_args(resources, cron["metadata"]["name"]) == ["chain-heads"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert len(fields) == 5
    assert fields[2:] == ["*", "*", "*"], fields  # once a day


@pytest.mark.parametrize("folder", OVERLAYS, ids=_label)
def test_every_cron_job_runs_a_hypeledger_command_that_exists(folder: Path) -> None:
    from typer.main import get_command  # noqa: PLC0415

    from services.cli.main import app  # noqa: PLC0415

    commands = set(get_command(app).commands)  # type: ignore[attr-defined]
    crons = by_kind(rendered(folder), "CronJob")

    for cron in crons:
        for container in containers(cron):
            assert container["image"].split("/")[-1].startswith("hypeledger")
            assert container["args"][0] in commands, container["args"]
    assert crons


@pytest.mark.parametrize("folder", [o for o in OVERLAYS if o != MONITORING_OVERLAY], ids=_label)
def test_overlays_without_the_component_need_no_prometheus_operator(folder: Path) -> None:
    assert not [r for r in rendered(folder) if is_operator_resource(r)]


def test_the_prometheus_rule_holds_exactly_the_alerts_file() -> None:
    (rule,) = by_kind(rendered(MONITORING_OVERLAY), "PrometheusRule")

    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["spec"]["groups"] == yaml.safe_load(ALERTS.read_text())["groups"]


def test_the_service_monitor_scrapes_every_workload_that_serves_metrics() -> None:
    resources = rendered(MONITORING_OVERLAY)
    (monitor,) = by_kind(resources, "ServiceMonitor")
    (service,) = [
        s
        for s in by_kind(resources, "Service")
        if monitor["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()
    ]
    scraped_ports = {e["port"] for e in monitor["spec"]["endpoints"]}
    target_ports = {p["name"]: p["targetPort"] for p in service["spec"]["ports"]}

    workloads = [
        d
        for d in services_of(resources)
        if "prometheus.io/port" in d["spec"]["template"]["metadata"].get("annotations", {})
    ]

    assert service["spec"]["clusterIP"] == "None"
    assert all(e["path"] == "/metrics" for e in monitor["spec"]["endpoints"])
    assert scraped_ports <= set(target_ports)
    for deployment in workloads:
        assert selected(deployment, service["spec"]["selector"])
        annotated = int(
            deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"]
        )
        named = {
            port["name"]: port["containerPort"]
            for container in containers(deployment)
            for port in container.get("ports", [])
        }
        scraped = [named[target_ports[p]] for p in scraped_ports if target_ports[p] in named]
        assert scraped == [annotated], deployment["metadata"]["name"]
    assert len(workloads) >= 5


@pytest.mark.parametrize("folder", OVERLAYS, ids=_label)
def test_reply_topics_are_pruned_hourly_after_an_idle_hour_at_least(folder: Path) -> None:
    resources = rendered(folder)
    (cron,) = [r for r in by_kind(resources, "CronJob") if "reply-topics" in r["metadata"]["name"]]

    args = cron_args(resources, cron["metadata"]["name"])

    assert args[:2] == ["reply-topics", "prune"]
    assert int(args[args.index("--idle-minutes") + 1]) >= 60
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert "--dry-run" not in args
