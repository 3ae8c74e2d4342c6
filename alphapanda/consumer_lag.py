"""Consumer lag of this worker: messages on its assigned partitions not yet read, per topic."""

from __future__ import annotations

from collections import defaultdict

from alphapanda import metrics

__all__ = ["lag_by_topic", "refresh_lag_metric", "LAG_DEGRADED"]

#: Unread messages on one topic above which a broker's health is degraded (its pipeline is not
#: keeping up, or a stage is stuck).
LAG_DEGRADED = 50_000


def lag_by_topic(app) -> dict[str, int]:
    """Unread messages per topic over the partitions assigned to this worker (empty before start)."""
    consumer = app.consumer
    try:
        assignment = consumer.assignment()
    except Exception:
        return {}
    lag: dict[str, int] = defaultdict(int)
    for tp in assignment:
        try:
            highwater = consumer.highwater(tp)
        except Exception:
            continue
        if highwater is None:
            continue
        read = consumer._read_offset.get(tp)  # the last offset read; None before the first
        lag[tp.topic] += max(0, highwater - (read + 1 if read is not None else 0))
    return dict(lag)


def refresh_lag_metric(app) -> dict[str, int]:
    lags = lag_by_topic(app)
    for topic, value in lags.items():
        metrics.CONSUMER_LAG.labels(topic).set(value)
    return lags
