"""Prometheus metrics of the ledger and its relay, on a registry owned by one service instance."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from shared.metrics import ServiceMetrics, service_registry

BATCH_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class LedgerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or service_registry()
        m = ServiceMetrics("ledger", self.registry)
        self.decisions = m.counter(
            "decisions", "Decisions by command kind and outcome.", "kind", "outcome"
        )
        self._decided: dict[tuple[str, str], Counter] = {}
        self.batch_size = m.histogram(
            "batch_size", "Records applied per partition batch.", buckets=BATCH_BUCKETS
        )
        self.apply_seconds = m.histogram(
            "apply_seconds",
            "Time to decide and commit one partition batch.",
            buckets=LATENCY_BUCKETS,
        )
        self.consumer_lag = m.gauge(
            "consumer_lag",
            "Records not yet applied: the log end offset minus the offset committed to Kafka "
            "(on Tansu, the fetch's high watermark minus the next offset to apply).",
            "partition",
        )
        self.dlq = m.counter("dlq", "Commands sent to the dead-letter topic.", "reason")
        self.unauthenticated = m.counter(
            "commands_unauthenticated",
            "Commands refused before deciding: unsigned, unknown key id, or bad signature.",
            "reason",
        )
        self.findings = m.counter("findings", "Decisions flagged for reconciliation.", "flag")
        self.protection_refusals = m.counter(
            "protection_refusals",
            "Bets and deposits refused by a player limit (kind/period) or an exclusion.",
            "limit",
        )
        self.partition_errors = m.counter(
            "partition_errors", "Partitions stopped by an unexpected error.", "partition"
        )
        self.partition_retries = m.counter(
            "partition_retries",
            "Batches retried after a transient fault (database or broker away), by SQLSTATE or"
            " error class.",
            "partition",
            "reason",
        )
        self.partitions_retrying = m.gauge(
            "partitions_retrying", "Partitions paused, waiting to retry after a transient fault."
        )
        self.offset_mismatches = m.gauge(
            "partitions_offset_mismatch",
            "Partitions paused because their stored offset is outside their log, by case"
            " (ahead_of_log_end, behind_log_start).",
            "case",
        )
        self.partitions_stopped = m.gauge(
            "partitions_stopped", "Partitions currently stopped after an error."
        )
        self.partitions_assigned = m.gauge(
            "partitions_assigned", "Partitions assigned to this consumer."
        )
        self.outbox_published = m.counter(
            "outbox_published", "Outbox events published to the transactions topic."
        )
        self.outbox_pending = m.gauge(
            "outbox_pending", "Outbox events not yet published (last relay pass)."
        )

    def decided(self, kind: str, outcome: str) -> Counter:
        """``decisions`` labelled with ``kind`` and ``outcome``, labelled once per pair
        (``labels`` costs ~3 us, and every command is counted)."""
        child = self._decided.get((kind, outcome))
        if child is None:
            child = self._decided[(kind, outcome)] = self.decisions.labels(kind, outcome)
        return child
