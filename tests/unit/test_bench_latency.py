"""The benchmark's latency arithmetic: percentiles and latency over the run."""

import math

from alphapanda.bench.latency import over_time, percentile, summarize


def test_nearest_rank_percentiles():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert math.isnan(percentile([], 50))
    assert summarize([3.0, 1.0, 2.0]) == {"p50": 2.0, "p95": 3.0, "p99": 3.0, "max": 3.0}


def test_latency_over_time_groups_samples_by_send_time_window():
    origin = 1000.0
    # Window 0 (0-5 s): fast; window 2 (10-15 s): slow; nothing sent in window 1.
    samples = [(origin + 0.1, 10.0), (origin + 4.9, 20.0), (origin + 10.0, 300.0), (origin + 14.0, 100.0)]

    series = over_time(samples, origin, window=5.0)

    assert series == [
        {"t": 0.0, "n": 2, "p50": 10.0, "p99": 20.0},
        {"t": 10.0, "n": 2, "p50": 100.0, "p99": 300.0},
    ]


def test_a_sample_sent_just_before_the_origin_counts_in_the_first_window():
    assert over_time([(99.999, 7.0)], 100.0, window=1.0) == [{"t": 0.0, "n": 1, "p50": 7.0, "p99": 7.0}]
    assert over_time([], 100.0, window=1.0) == []


def test_the_confluent_relay_connects_as_the_app_does():
    from pathlib import Path

    from alphapanda.kafka_connection import KafkaConnection

    assert KafkaConnection("127.0.0.1:9092").librdkafka_config() == {
        "bootstrap.servers": "127.0.0.1:9092", "security.protocol": "plaintext"}
    secure = KafkaConnection("k1:9093,k2:9093", security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
                             sasl_username="ap", sasl_password="pw", ssl_cafile=Path("/etc/ca.pem"))
    assert secure.librdkafka_config() == {
        "bootstrap.servers": "k1:9093,k2:9093", "security.protocol": "sasl_ssl", "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "ap", "sasl.password": "pw", "ssl.ca.location": "/etc/ca.pem"}


def test_the_table_shows_both_yardsticks_or_why_one_was_skipped():
    from alphapanda.bench.report import format_table

    summary = {"p50": 1.0, "p95": 2.0, "p99": 3.0, "max": 4.0}
    result = {
        "config": {"tansu_workarounds": False, "embedded_broker": "kafka", "kafka_url": "kafka://h:1", "partitions": 8,
                   "workers": 1, "instruments": 100, "strategies": 4, "seconds": 30.0},
        "ticks_per_second": 10_000.0, "relay_ticks_per_second": 40_000.0, "ratio": 0.25,
        "confluent_relay_ticks_per_second": 62_500.0, "confluent_ratio": 0.16, "confluent_relay_skipped": None,
        "drain": {"ticks": 100_000, "seconds": 10.0}, "latency_ms": summary, "latency_breakdown_ms": {"fill": summary},
        "fills": {"expected": 5, "received": 5}, "achieved_rate": 1000.0,
        "rss_mb": {"start": 100.0, "after_drain": 110.0, "end": 111.0, "paced_growth": 1.0}, "rss_series": [],
    }
    table = format_table(result)
    assert "62,500 ticks/s" in table and "ratio to it             0.160" in table, table
    skipped = format_table({**result, "confluent_relay_ticks_per_second": None, "confluent_ratio": None,
                            "confluent_relay_skipped": "confluent-kafka is not installed"})
    assert "raw relay (C)      skipped: confluent-kafka is not installed" in skipped


class _FakeWorker:
    """A bench worker that reports (ticks handled, wall time of its last batch) from a script."""

    def __init__(self, samples):
        self._samples = list(samples)

    def check_alive(self):
        pass

    def rss_mb(self):
        return 100.0

    async def processed(self):
        return self._samples.pop(0) if len(self._samples) > 1 else self._samples[0]


async def test_the_drain_is_timed_between_the_workers_batches(monkeypatch):
    import time

    from alphapanda.bench import runner

    monkeypatch.setattr(runner.asyncio, "sleep", _no_wait)
    now = time.time()
    drain = await runner._measure_drain([_FakeWorker([(0, None), (500, now + 1.0), (1200, now + 1.5), (2000, now + 2.0)])], 2000)
    assert drain["ticks_per_second"] == 1500.0 and drain["seconds"] == 1.0 and drain["lower_bound"] is False


async def test_a_backlog_drained_before_the_first_look_gives_a_lower_bound_not_a_crash(monkeypatch):
    import time

    from alphapanda.bench import runner

    monkeypatch.setattr(runner.asyncio, "sleep", _no_wait)
    last = time.time() + 4.0  # the one batch, 4 s after the bench began to look (worker start)
    drain = await runner._measure_drain([_FakeWorker([(2000, last), (2000, last)])], 2000)
    assert drain["lower_bound"] is True and 3.9 < drain["seconds"] <= 4.0
    assert drain["ticks_per_second"] == 2000 / drain["seconds"]


async def _no_wait(_seconds):
    return None
