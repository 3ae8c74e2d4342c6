"""The cached Prometheus monitor exports exactly what Faust's own monitor exports."""

from __future__ import annotations

from types import SimpleNamespace

from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.types import TP
from prometheus_client import CollectorRegistry

from alphapanda.sensors import CachedPrometheusMonitor


class _Message:
    time_in = None


class _Task:
    pass


class _Stream:
    def __init__(self, label: str) -> None:
        self.shortlabel = f"Stream: Topic: {label}"
        self.task_owner = _Task()  # Monitor keys a weak dictionary by it

    def __str__(self) -> str:
        return self.shortlabel


def _samples(monitor_type) -> dict:
    registry = CollectorRegistry()
    monitor = monitor_type(metrics=FaustMetrics.create(registry, "app"))
    streams = [_Stream("market.ticks"), _Stream("paper.signals.raw")]
    table = SimpleNamespace(name="orders")
    for i in range(30):
        tp = TP("market.ticks" if i % 3 else "paper.signals.raw", i % 4)
        message = _Message()
        monitor.on_message_in(tp, 100 + i, message)
        state = monitor.on_stream_event_in(tp, 100 + i, streams[i % 2], None)
        monitor.on_stream_event_out(tp, 100 + i, streams[i % 2], None, state)
        monitor.on_message_out(tp, 100 + i, message)
        monitor.on_send_initiated(None, "paper.orders.filled", None, 3, 10)
        monitor.on_table_get(table, "k")
        monitor.on_table_set(table, "k", 1)
        if i == 20:
            monitor.on_table_del(table, "k")
            monitor._clear_partition_related_metrics()  # what a rebalance does
    exported = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name.endswith(("_created", "_sum")) or "latency" in sample.name:
                continue  # creation times and summed timings differ between any two runs
            exported[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return exported, monitor


def test_exports_the_same_series_and_values_as_faust():
    expected, faust_monitor = _samples(PrometheusMonitor)
    actual, cached_monitor = _samples(CachedPrometheusMonitor)
    assert actual == expected
    assert ("app_messages_received_per_topic_total", (("topic", "market.ticks"),)) in actual
    # The monitor's own counters (the web stats page reads them) agree as well.
    assert cached_monitor.messages_received_total == faust_monitor.messages_received_total == 30
    assert cached_monitor.events_total == faust_monitor.events_total == 30
    assert dict(cached_monitor.messages_received_by_topic) == dict(faust_monitor.messages_received_by_topic)


def test_series_removed_on_rebalance_come_back_on_the_next_message():
    registry = CollectorRegistry()
    monitor = CachedPrometheusMonitor(metrics=FaustMetrics.create(registry, "app"))
    tp = TP("market.ticks", 0)
    monitor.on_message_in(tp, 1, _Message())
    monitor._clear_partition_related_metrics()
    monitor.on_message_in(tp, 2, _Message())
    assert registry.get_sample_value("app_messages_received_per_topic_total", {"topic": "market.ticks"}) == 1
    assert registry.get_sample_value(
        "app_messages_received_per_topics_partition", {"topic": "market.ticks", "partition": "0"}
    ) == 2


def test_a_batch_of_records_counts_as_its_messages_would_have():
    by_message = CachedPrometheusMonitor(metrics=FaustMetrics.create(CollectorRegistry(), "app"))
    by_batch = CachedPrometheusMonitor(metrics=FaustMetrics.create(registry := CollectorRegistry(), "app"))
    tp = TP("market.ticks", 3)
    for offset in range(10, 15):
        by_message.on_message_in(tp, offset, _Message())
    by_batch.on_records_in(tp, 5, 14)
    assert registry.get_sample_value("app_messages_received_per_topic_total", {"topic": "market.ticks"}) == 5
    assert registry.get_sample_value("app_messages_received_total") == 5
    assert registry.get_sample_value(
        "app_messages_received_per_topics_partition", {"topic": "market.ticks", "partition": "3"}
    ) == 14
    assert by_batch.messages_received_total == by_message.messages_received_total == 5
    assert dict(by_batch.messages_received_by_topic) == dict(by_message.messages_received_by_topic)
    assert by_batch.tp_read_offsets == by_message.tp_read_offsets
    assert by_batch.messages_active == 0  # no stream holds them, nothing would ever release them
    assert tp in by_batch.stream_inbound_time  # Faust's livelock check sees the partition served
