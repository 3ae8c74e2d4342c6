"""Prometheus metrics of the pipeline (Faust's own sensors are added by the web layer)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "DLQ_MESSAGES",
    "EVENTS_PROCESSED",
    "EVENTS_FAILED",
    "EVENTS_DEDUPLICATED",
    "HANDLER_LATENCY",
    "LAST_EVENT_TIME",
    "RISK_DECISIONS",
    "FEED_RUNNING",
    "CONSUMER_LAG",
    "ROCKSDB_MEMORY",
    "PRODUCER_BUFFER",
    "KAFKA_REACHABLE",
    "ORDER_OUTCOMES",
    "VENUE_STATUS",
    "RISK_STATE",
    "FEED_FAILED",
    "set_state",
]

DLQ_MESSAGES = Counter(
    "trading_dlq_messages_total", "Messages sent to a dead-letter topic", ["service", "broker", "topic"]
)
EVENTS_PROCESSED = Counter(
    "trading_events_processed_total", "Events handled successfully", ["stage", "broker"]
)
EVENTS_FAILED = Counter(
    "trading_events_failed_total", "Events that failed (and went to a DLQ)", ["stage", "broker"]
)
EVENTS_DEDUPLICATED = Counter(
    "trading_events_deduplicated_total", "Redelivered events recognised and skipped", ["stage", "broker"]
)
HANDLER_LATENCY = Histogram(
    "trading_handler_latency_seconds",
    "Time to handle one event (or one batch on the tick path)",
    ["stage"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
LAST_EVENT_TIME = Gauge(
    "trading_last_event_timestamp_seconds", "Unix time of the last event handled", ["stage", "broker"]
)
RISK_DECISIONS = Counter(
    "trading_risk_decisions_total", "Risk decisions per broker and reason code", ["broker", "decision", "reason_code"]
)
CONSUMER_LAG = Gauge(
    "trading_consumer_lag_messages", "Messages not yet read on this worker's partitions of a topic", ["topic"]
)
FEED_RUNNING = Gauge("trading_market_feed_running", "1 while this worker publishes the market feed", ["feed"])
PRODUCER_BUFFER = Gauge(
    "trading_producer_buffer_messages",
    "Records (table changelog writes) waiting in the worker's producer buffer for the Kafka client",
)
KAFKA_REACHABLE = Gauge(
    "trading_kafka_reachable", "1 while this worker's Kafka cluster answers at a bootstrap address, else 0"
)
ROCKSDB_MEMORY = Gauge(
    "trading_rocksdb_memory_bytes", "RocksDB memory of this worker (all tables), within alphapanda.stores' budget",
    ["part"],
)
ORDER_OUTCOMES = Counter(
    "trading_order_outcomes_total",
    "Venue outcomes of orders: submitted, filled (each fill), failed (with its reason code), cancelled",
    ["broker", "outcome", "reason_code"],
)
VENUE_STATUS = Gauge(
    "trading_venue_status",
    "1 for the venue's current status on this worker (ok, disabled, degraded, session_invalid, circuit_open), 0 for the others",
    ["broker", "status"],
)
RISK_STATE = Gauge(
    "trading_risk_state",
    "1 for the broker's trading state (ACTIVE, HALTED, REDUCING), 0 for the others; only the worker owning its risk partition reports it",
    ["broker", "state"],
)
FEED_FAILED = Gauge(
    "trading_market_feed_failed", "1 when this worker's market feed stopped with an error or has invalid settings", ["feed"]
)


def set_state(gauge: Gauge, owner: str, current: str | None, states: tuple[str, ...]) -> None:
    """One-hot state gauge: 1 for ``current``, 0 for the other ``states``; none at all when
    ``current`` is None (this worker does not know it), so no stale value outlives a move."""
    for state in states:
        if current is None:
            try:
                gauge.remove(owner, state)
            except KeyError:
                pass
        else:
            gauge.labels(owner, state).set(1 if state == current else 0)
