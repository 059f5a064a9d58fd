"""Prometheus metrics of the ledger and its relay, on a registry owned by one service instance."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.metrics import service_registry

BATCH_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class LedgerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or service_registry()
        r = self.registry
        self.decisions = Counter(
            "hypeledger_ledger_decisions",
            "Decisions by command kind and outcome.",
            ["kind", "outcome"],
            registry=r,
        )
        self.batch_size = Histogram(
            "hypeledger_ledger_batch_size",
            "Records applied per partition batch.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.apply_seconds = Histogram(
            "hypeledger_ledger_apply_seconds",
            "Time to decide and commit one partition batch.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.consumer_lag = Gauge(
            "hypeledger_ledger_consumer_lag",
            "Records not yet applied: the log end offset minus the offset committed to Kafka "
            "(on Tansu, the fetch's high watermark minus the next offset to apply).",
            ["partition"],
            registry=r,
        )
        self.dlq = Counter(
            "hypeledger_ledger_dlq",
            "Commands sent to the dead-letter topic.",
            ["reason"],
            registry=r,
        )
        self.unauthenticated = Counter(
            "hypeledger_ledger_commands_unauthenticated",
            "Commands refused before deciding: unsigned, unknown key id, or bad signature.",
            ["reason"],
            registry=r,
        )
        self.findings = Counter(
            "hypeledger_ledger_findings",
            "Decisions flagged for reconciliation.",
            ["flag"],
            registry=r,
        )
        self.protection_refusals = Counter(
            "hypeledger_ledger_protection_refusals",
            "Bets and deposits refused by a player limit (kind/period) or an exclusion.",
            ["limit"],
            registry=r,
        )
        self.partition_errors = Counter(
            "hypeledger_ledger_partition_errors",
            "Partitions stopped by an unexpected error.",
            ["partition"],
            registry=r,
        )
        self.partition_retries = Counter(
            "hypeledger_ledger_partition_retries",
            "Batches retried after a transient fault (database or broker away), by SQLSTATE or"
            " error class.",
            ["partition", "reason"],
            registry=r,
        )
        self.partitions_retrying = Gauge(
            "hypeledger_ledger_partitions_retrying",
            "Partitions paused, waiting to retry after a transient fault.",
            registry=r,
        )
        self.offset_mismatches = Gauge(
            "hypeledger_ledger_partitions_offset_mismatch",
            "Partitions paused because their stored offset is outside their log, by case"
            " (ahead_of_log_end, behind_log_start).",
            ["case"],
            registry=r,
        )
        self.partitions_stopped = Gauge(
            "hypeledger_ledger_partitions_stopped",
            "Partitions currently stopped after an error.",
            registry=r,
        )
        self.partitions_assigned = Gauge(
            "hypeledger_ledger_partitions_assigned",
            "Partitions assigned to this consumer.",
            registry=r,
        )
        self.outbox_published = Counter(
            "hypeledger_ledger_outbox_published",
            "Outbox events published to the transactions topic.",
            registry=r,
        )
        self.outbox_pending = Gauge(
            "hypeledger_ledger_outbox_pending",
            "Outbox events not yet published (last relay pass).",
            registry=r,
        )
