"""Periodic metrics that no event updates: consumer lag per topic, RocksDB memory, producer
backlog; and whether the Kafka cluster answers, for health."""

from alphapanda import metrics, stores
from alphapanda.app import app, settings
from alphapanda.consumer_lag import refresh_lag_metric
from alphapanda.kafka_reachability import KafkaReachability

REFRESH_SECONDS = 5.0
KAFKA_PROBE_SECONDS = 2.0

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
