"""Periodic metrics that no event updates: consumer lag per topic, RocksDB memory."""

from alphapanda import metrics, stores
from alphapanda.app import app
from alphapanda.consumer_lag import refresh_lag_metric

LAG_REFRESH_SECONDS = 5.0


@app.timer(LAG_REFRESH_SECONDS, name="consumer_lag_metric")
async def consumer_lag_metric() -> None:
    refresh_lag_metric(app)
    for part, used in stores.memory_usage().items():
        metrics.ROCKSDB_MEMORY.labels(part).set(used)
