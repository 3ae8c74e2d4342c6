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
