"""Prometheus metrics of the reconciler, on a registry of its own (one per composition root)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.metrics import service_registry


@dataclass
class ReconcilerMetrics:
    registry: CollectorRegistry = field(default_factory=service_registry)

    def __post_init__(self) -> None:
        r = self.registry
        self.outcomes = Counter(
            "hypeledger_reconciler_outcomes",
            "Rows (pairs or lone rows) classified, by class (pending: inside the grace period)",
            ["row_class"],
            registry=r,
        )
        self.findings = Counter(
            "hypeledger_reconciler_findings",
            "Differences found, by class (a difference still there is counted by every run)",
            ["finding_class"],
            registry=r,
        )
        self.sessions = Counter(
            "hypeledger_reconciler_sessions",
            "Sessions checked, by result (done, failed)",
            ["result"],
            registry=r,
        )
        self.rows = Counter(
            "hypeledger_reconciler_rows",
            "Rows read, by side (provider, ledger)",
            ["side"],
            registry=r,
        )
        self.runs = Counter(
            "hypeledger_reconciler_runs", "Runs finished, by trigger", ["trigger"], registry=r
        )
        self.run_seconds = Histogram(
            "hypeledger_reconciler_run_seconds",
            "Wall time of a run (of this process's part of it when resumed)",
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
            registry=r,
        )
        self.last_run_finished = Gauge(
            "hypeledger_reconciler_last_run_finished_timestamp_seconds",
            "When the last run finished (Unix time)",
            registry=r,
        )
        self.published = Counter(
            "hypeledger_reconciler_findings_published",
            "Finding events published to wallet.reconciliation.v1",
            registry=r,
        )
        self.rounds_settled = Counter(
            "hypeledger_reconciler_rounds_settled",
            "Finished rounds whose open bets were sent to the ledger to settle as lost"
            " (reason round-finished), by the ledger's reply status",
            ["status"],
            registry=r,
        )
        self.bets_settled_lost = Counter(
            "hypeledger_reconciler_bets_settled_lost",
            "Open bets of finished rounds the ledger settled as lost (no money moves)",
            registry=r,
        )
        self.errors = Counter(
            "hypeledger_reconciler_errors",
            "Failures that did not stop a run, by where they happened",
            ["where"],
            registry=r,
        )
