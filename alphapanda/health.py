"""Health of this worker per broker: feed, venue session, consumer lag, last events.

Degraded (HTTP 503) when the Kafka cluster does not answer, the feed failed, a venue's session is
invalid or its orders cannot be placed, or a broker's topics lag by more than
:data:`~alphapanda.consumer_lag.LAG_DEGRADED`.
"""

from __future__ import annotations

import os
import time

from alphapanda import metrics
from alphapanda.consumer_lag import LAG_DEGRADED, refresh_lag_metric

__all__ = ["report"]


def _last_event_age(stage: str, broker: str) -> float | None:
    value = metrics.LAST_EVENT_TIME.labels(stage, broker)._value.get()
    return round(time.time() - value, 3) if value else None


def _broker_or_none(broker_of, topic: str) -> str | None:
    try:
        return broker_of(topic)
    except ValueError:
        return None  # changelogs and Faust's own topics


def _worker() -> dict:
    from alphapanda.app import app

    try:
        assigned = len(app.consumer.assignment())
        leader = bool(app.is_leader())
    except Exception:  # not started yet
        assigned, leader = 0, False
    # The pid tells an operator (and the tests) which process answered on this port.
    return {"pid": os.getpid(), "assigned_partitions": assigned, "leader": leader,
            "tansu_workarounds": app.alphapanda_tansu}


def report() -> dict:
    from alphapanda.agents.common import active_brokers
    from alphapanda.agents.execution import venues
    from alphapanda.agents.feed import feed_supervisor
    from alphapanda.agents.market_view import market_view
    from alphapanda.agents.observability import kafka_reachability
    from alphapanda.app import app
    from alphapanda.topics import MARKET_TICKS, broker_of

    feed = feed_supervisor.feed_state.as_dict()
    feed_ok = feed["error"] is None
    brokers: dict[str, dict] = {}
    kafka = kafka_reachability.as_dict()
    degraded = not feed_ok or not kafka["reachable"]
    lags = refresh_lag_metric(app)
    for broker in active_brokers:
        venue = venues[broker].health()
        venue_ok = venue.get("status") in ("ok", "disabled")
        lag = {t: n for t, n in lags.items() if t != MARKET_TICKS and _broker_or_none(broker_of, t) == broker}
        lagging = any(n > LAG_DEGRADED for n in lag.values())
        degraded = degraded or not venue_ok or lagging
        brokers[broker] = {
            "status": "ok" if venue_ok and not lagging else "degraded",
            "venue": venue,
            "consumer_lag": lag,
            "last_event_age_seconds": {
                stage: _last_event_age(stage, broker) for stage in ("risk_manager", "execution", "portfolio")
            },
        }
    return {
        "status": "degraded" if degraded else "ok",
        "worker": _worker(),
        "kafka": kafka,
        "feed": feed,
        "market": {
            "instruments": len(market_view),
            "last_tick_at": market_view.updated_at.isoformat() if market_view.updated_at else None,
            "consumer_lag": lags.get(MARKET_TICKS, 0),
        },
        "brokers": brokers,
    }
