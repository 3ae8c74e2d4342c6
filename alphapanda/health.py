"""Health of this worker per broker: feed, venue session, last events. Degraded -> HTTP 503."""

from __future__ import annotations

import time

from alphapanda import metrics

__all__ = ["report"]


def _last_event_age(stage: str, broker: str) -> float | None:
    value = metrics.LAST_EVENT_TIME.labels(stage, broker)._value.get()
    return round(time.time() - value, 3) if value else None


def _worker() -> dict:
    from alphapanda.app import app

    try:
        assigned = len(app.consumer.assignment())
        leader = bool(app.is_leader())
    except Exception:  # not started yet
        assigned, leader = 0, False
    return {"assigned_partitions": assigned, "leader": leader, "tansu_workarounds": app.alphapanda_tansu}


def report() -> dict:
    from alphapanda.agents.common import active_brokers
    from alphapanda.agents.execution import venues
    from alphapanda.agents.feed import feed_supervisor
    from alphapanda.agents.market_view import market_view

    feed = feed_supervisor.feed_state.as_dict()
    feed_ok = feed["error"] is None
    brokers: dict[str, dict] = {}
    degraded = not feed_ok
    for broker in active_brokers:
        venue = venues[broker].health()
        venue_ok = venue.get("status") in ("ok", "disabled")
        degraded = degraded or not venue_ok
        brokers[broker] = {
            "status": "ok" if venue_ok else "degraded",
            "venue": venue,
            "last_event_age_seconds": {
                stage: _last_event_age(stage, broker) for stage in ("risk_manager", "execution", "portfolio")
            },
        }
    return {
        "status": "degraded" if degraded else "ok",
        "worker": _worker(),
        "feed": feed,
        "market": {"instruments": len(market_view), "last_tick_at": market_view.updated_at.isoformat() if market_view.updated_at else None},
        "brokers": brokers,
    }
