"""Periodic metrics that no event updates: consumer lag per topic, RocksDB memory, producer
backlog, the feed's, venues' and trading states; and whether the Kafka cluster answers."""

from alphapanda import metrics, stores
from alphapanda.agents.common import active_brokers
from alphapanda.agents.execution import venues
from alphapanda.agents.feed import feed_supervisor
from alphapanda.agents.risk_manager import load_state as load_risk_state
from alphapanda.app import app, settings
from alphapanda.consumer_lag import refresh_lag_metric
from alphapanda.kafka_reachability import KafkaReachability
from alphapanda.models import TradingState
from alphapanda.tables import risk_state
from alphapanda.topics import account_of

REFRESH_SECONDS = 5.0
KAFKA_PROBE_SECONDS = 2.0

VENUE_STATUSES = ("ok", "disabled", "degraded", "session_invalid", "circuit_open")
TRADING_STATES = tuple(state.value for state in TradingState)

kafka_reachability = KafkaReachability(settings.kafka_bootstrap)


@app.timer(KAFKA_PROBE_SECONDS, name="kafka_reachability")
async def probe_kafka() -> None:
    metrics.KAFKA_REACHABLE.set(1 if await kafka_reachability.probe() else 0)


@app.timer(REFRESH_SECONDS, name="periodic_metrics")
async def periodic_metrics() -> None:
    refresh_lag_metric(app)
    for part, used in stores.memory_usage().items():
        metrics.ROCKSDB_MEMORY.labels(part).set(used)
    # Changelog writes and outputs queue here; a growing backlog delays
    # commits, which wait for it, and holds every queued record in memory.
    metrics.PRODUCER_BUFFER.set(app.producer.buffer.size)
    refresh_state_metrics()


def refresh_state_metrics() -> None:
    feed = feed_supervisor.feed_state
    metrics.FEED_FAILED.labels(feed.kind).set(1 if feed.error is not None else 0)
    for broker in active_brokers:
        status = venues[broker].health().get("status")
        metrics.set_state(metrics.VENUE_STATUS, broker, status if status in VENUE_STATUSES else "degraded",
                          VENUE_STATUSES)
        # Only the worker holding the broker's risk partition knows its state; the others say nothing.
        state = load_risk_state(broker).trading_state.value if _owns_risk_state(broker) else None
        metrics.set_state(metrics.RISK_STATE, broker, state, TRADING_STATES)


def _owns_risk_state(broker: str) -> bool:
    router = app.router
    try:
        owner = router.key_store(risk_state.name, account_of(broker))
    except Exception:  # no assignment yet (starting, rebalancing)
        return False
    return router._urlident(owner) == router._urlident(app.conf.canonical_url)
