"""Prometheus metrics of the reconciler, on a registry of its own (one per composition root)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from shared.metrics import ServiceMetrics, service_registry


@dataclass
class ReconcilerMetrics:
    registry: CollectorRegistry = field(default_factory=service_registry)

    def __post_init__(self) -> None:
        m = ServiceMetrics("reconciler", self.registry)
        self.outcomes = m.counter(
            "outcomes",
            "Rows (pairs or lone rows) classified, by class (pending: inside the grace period)",
            "row_class",
        )
        self.findings = m.counter(
            "findings",
            "Differences found, by class (a difference still there is counted by every run)",
            "finding_class",
        )
        self.sessions = m.counter(
            "sessions", "Sessions checked, by result (done, failed)", "result"
        )
        self.rows = m.counter("rows", "Rows read, by side (provider, ledger)", "side")
        self.runs = m.counter("runs", "Runs finished, by trigger", "trigger")
        self.run_seconds = m.histogram(
            "run_seconds",
            "Wall time of a run (of this process's part of it when resumed)",
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
        )
        self.last_run_finished = m.gauge(
            "last_run_finished_timestamp_seconds", "When the last run finished (Unix time)"
        )
        self.published = m.counter(
            "findings_published", "Finding events published to wallet.reconciliation.v1"
        )
        self.rounds_settled = m.counter(
            "rounds_settled",
            "Finished rounds whose open bets were sent to the ledger to settle as lost"
            " (reason round-finished), by the ledger's reply status",
            "status",
        )
        self.bets_settled_lost = m.counter(
            "bets_settled_lost",
            "Open bets of finished rounds the ledger settled as lost (no money moves)",
        )
        self.errors = m.counter(
            "errors", "Failures that did not stop a run, by where they happened", "where"
        )
