"""Metrics and health of a real worker, as Prometheus and an operator see them."""

from tests.support.pipeline import trading_signal, wait_for


def metrics_text(worker) -> str:
    import urllib.request

    with urllib.request.urlopen(worker.url + "/metrics", timeout=10) as response:
        return response.read().decode()


def sample(text: str, name: str, **labels) -> float | None:
    for line in text.splitlines():
        labelled = line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items())
        if labelled or (not labels and line.startswith(name + " ")):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics_count_events_dead_letters_latency_and_lag_per_stage_and_broker(cluster, workers):
    worker = workers()
    cluster.produce("paper.signals.raw", [(b"paper", b"garbage"), (b"paper", trading_signal("paper", event_id="m-1"))])
    def counted() -> str | None:
        # The execution stage observes its latency once its fill is acknowledged, which can be
        # just after the portfolio has read that fill.
        text = metrics_text(worker)
        if (sample(text, "trading_events_processed_total", stage="portfolio", broker="paper")
                and sample(text, "trading_handler_latency_seconds_count", stage="execution")):
            return text
        return None

    text = wait_for(counted, timeout=60, message="portfolio events counted")
    assert sample(text, "trading_dlq_messages_total", service="risk_manager", broker="paper") == 1.0
    assert sample(text, "trading_events_processed_total", stage="risk_manager", broker="paper") >= 1
    assert sample(text, "trading_events_failed_total", stage="risk_manager", broker="paper") == 1.0
    assert sample(text, "trading_handler_latency_seconds_count", stage="execution") >= 1
    assert sample(text, "trading_last_event_timestamp_seconds", stage="execution", broker="paper") > 0
    assert sample(text, "trading_risk_decisions_total", broker="paper", decision="validated") >= 1
    wait_for(lambda: "trading_consumer_lag_messages{" in metrics_text(worker), timeout=20, message="lag gauge")
    text = metrics_text(worker)
    # Faust's own sensors, under the app's name, with per-topic series.
    assert sample(text, "alphapanda_messages_received_per_topic_total", topic="paper.signals.raw") >= 2
    # RocksDB memory (refreshed every 5 s), inside the worker's budget (alphapanda.stores).
    wait_for(lambda: (sample(metrics_text(worker), "trading_rocksdb_memory_bytes", part="memtables") or 0) > 0,
             timeout=20, message="RocksDB memtables in use")
    text = metrics_text(worker)
    cache = sample(text, "trading_rocksdb_memory_bytes", part="block_cache")
    assert 0 < sample(text, "trading_rocksdb_memory_bytes", part="memtables") <= cache <= 16 * 1024**2
    # The producer's backlog of changelog writes: a handful at most once the few events are in.
    assert 0 <= sample(text, "trading_producer_buffer_messages") < 100


def test_health_reports_feed_market_and_each_brokers_venue_lag_and_last_events(cluster, workers):
    worker = workers()
    status, health = worker.get("/api/v1/health")
    assert status == 200 and health["status"] == "ok"
    for broker in ("paper", "zerodha"):
        entry = health["brokers"][broker]
        assert {"status", "venue", "consumer_lag", "last_event_age_seconds"} <= set(entry)
    assert health["brokers"]["zerodha"]["venue"]["enabled"] is False
    assert "feed" in health and "market" in health
