"""Periodic metrics that no event updates: consumer lag per topic, RocksDB memory, producer backlog."""

from alphapanda import metrics, stores
from alphapanda.app import app
from alphapanda.consumer_lag import refresh_lag_metric

REFRESH_SECONDS = 5.0


@app.timer(REFRESH_SECONDS, name="periodic_metrics")
async def periodic_metrics() -> None:
    refresh_lag_metric(app)
    for part, used in stores.memory_usage().items():
        metrics.ROCKSDB_MEMORY.labels(part).set(used)
    # Changelog writes and outputs queue here; a growing backlog delays
    # commits, which wait for it, and holds every queued record in memory.
    metrics.PRODUCER_BUFFER.set(app.producer.buffer.size)
