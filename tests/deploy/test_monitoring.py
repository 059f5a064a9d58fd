"""The Grafana dashboard and the alert rules query metrics the services really export, and the
alerts cover what an operator must be paged for."""

from __future__ import annotations

import functools
import json
import re

import pytest
import yaml

from services.ingress.metrics import IngressMetrics
from services.ledger.metrics import LedgerMetrics
from services.operator_api.metrics import ApiMetrics
from services.reconciler.metrics import ReconcilerMetrics
from tests.deploy.manifests import ROOT

DASHBOARD = ROOT / "deploy" / "monitoring" / "grafana-dashboard.json"
ALERTS = ROOT / "deploy" / "monitoring" / "alerts.yaml"
#: Series Prometheus itself records for every scrape target.
PROMETHEUS_SERIES = frozenset({"up", "scrape_duration_seconds"})
PROMQL_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "bool", "offset", "inf", "nan",
}  # fmt: skip
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
NUMBER = re.compile(r"(?<![a-zA-Z0-9_:])\d[\d.]*(?:[eE][+-]?\d+)?")
IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*(?!\s*\()(?![a-zA-Z0-9_:])")


@functools.cache
def exported_metrics() -> frozenset[str]:
    """Every series name the services' Prometheus metrics expose, read from the registries their
    metrics classes build (the ingress's link counters included; no ``_created`` series:
    ``shared.metrics.service_registry`` turns them off)."""
    ingress = IngressMetrics()
    ingress.count_link_replies(lambda: 0, lambda: 0)
    registries = [
        ingress.registry,
        LedgerMetrics().registry,
        ApiMetrics().registry,
        ReconcilerMetrics().registry,
    ]
    names = {
        series
        for registry in registries
        for family in registry.collect()
        for series in _series(family.type, family.name)
    }
    return frozenset(names) | PROMETHEUS_SERIES


def _series(kind: str, name: str) -> set[str]:
    if kind == "counter":
        return {f"{name}_total"}
    if kind == "histogram":
        return {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    if kind == "summary":
        return {name, f"{name}_sum", f"{name}_count"}
    return {name}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, labels and keywords removed)."""
    text = re.sub(r'"[^"]*"', "", expr)
    text = NUMBER.sub("", text)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = GROUPING.sub("", text)
    return {
        token
        for token in IDENTIFIER.findall(text)
        if token.lower() not in PROMQL_KEYWORDS and not token.startswith("$")
    }


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def alert_rules() -> list[dict[str, object]]:
    return [
        rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]
    ]


def test_metric_name_reader_ignores_functions_labels_and_groupings() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le) (rate(a_bucket{status=~"5.."}[5m]))) / b or vector(0)'
    )

    assert metric_names(expr) == {"a_bucket", "b"}


@pytest.mark.parametrize("expr", dashboard_exprs())
def test_every_dashboard_query_uses_metrics_the_services_export(expr: str) -> None:
    names = metric_names(expr)

    assert names
    assert names <= exported_metrics()


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: str(rule["alert"]))
def test_every_alert_uses_metrics_the_services_export_and_says_how_urgent_it_is(
    rule: dict[str, object],
) -> None:
    names = metric_names(str(rule["expr"]))

    assert names
    assert names <= exported_metrics()
    assert rule["labels"]["severity"] in {"page", "ticket"}  # type: ignore[index]
    assert rule["annotations"]["summary"]  # type: ignore[index]


def test_alerts_cover_lag_stops_retries_dead_letters_5xx_timeouts_and_findings() -> None:
    used = set().union(*(metric_names(str(rule["expr"])) for rule in alert_rules()))

    wanted = {
        "consumer lag": {"hypeledger_ledger_consumer_lag"},
        "partition stopped": {"hypeledger_ledger_partitions_stopped"},
        "partition retrying": {"hypeledger_ledger_partitions_retrying"},
        "offset outside the log": {"hypeledger_ledger_partitions_offset_mismatch"},
        "dead letters": {"hypeledger_ledger_dlq_total"},
        "5xx rate": {"hypeledger_ingress_requests_total"},
        "reply timeouts": {"hypeledger_ingress_ledger_timeouts_total"},
        "reconciliation findings": {"hypeledger_reconciler_findings_total"},
    }

    assert {topic for topic, names in wanted.items() if not names & used} == set()


def test_dashboard_panels_have_unique_ids_and_a_prometheus_datasource_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())

    ids = [panel["id"] for panel in dashboard["panels"]]
    variables = {item["name"]: item["type"] for item in dashboard["templating"]["list"]}

    assert len(ids) == len(set(ids))
    assert variables == {"datasource": "datasource"}
    assert dashboard["uid"]


def test_alert_rules_file_is_a_plain_prometheus_rule_file() -> None:
    document = yaml.safe_load(ALERTS.read_text())

    names = [rule["alert"] for rule in alert_rules()]

    assert set(document) == {"groups"}
    assert len(names) == len(set(names))
