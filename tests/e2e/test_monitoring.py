"""A real Prometheus (Debian's package) scrapes a real worker: every Grafana panel's query parses
and returns data from the pipeline's run, every alert rule evaluates, and two alerts fire for real
(dead letters arriving, a halted broker)."""

import pytest

from tests.support.monitoring import Prometheus, metric_names, panel_queries, tool
from tests.support.pipeline import free_port, trading_signal, wait_for


@pytest.fixture
def prometheus_for(tmp_path):
    tool("prometheus")
    started = []

    def start(worker) -> Prometheus:
        prometheus = Prometheus(tmp_path / "prometheus", free_port(), [worker.url.removeprefix("http://")]).start()
        started.append(prometheus)
        return prometheus

    yield start
    for prometheus in started:
        prometheus.stop()


def firing(prometheus: Prometheus) -> dict[str, list[dict]]:
    alerts: dict[str, list[dict]] = {}
    for alert in prometheus.api("alerts")["data"]["alerts"]:
        if alert["state"] == "firing":
            alerts.setdefault(alert["labels"]["alertname"], []).append(alert["labels"])
    return alerts


def test_every_dashboard_query_returns_data_and_the_alerts_fire_on_a_real_worker(cluster, workers, prometheus_for):
    worker = workers(env={
        "MARKET_FEED": "simulated", "SIMULATION__TICKS_PER_SECOND": "50",
        "RISK__PAPER__MAX_ORDER_QUANTITY": "50",
    })
    prometheus = prometheus_for(worker)
    # A fill (its signal sent twice: one is skipped), a risk rejection, a venue failure (live
    # zerodha is off), a dead letter.
    fill = trading_signal("paper", event_id="mon-fill")
    cluster.produce("paper.signals.raw", [(b"paper", fill), (b"paper", fill),
                                          (b"paper", trading_signal("paper", quantity=100, event_id="mon-big")),
                                          (b"paper", b"not an event")])
    cluster.produce("zerodha.signals.raw", [(b"zerodha", trading_signal("zerodha", event_id="mon-live"))])
    wait_for(lambda: prometheus.series_count('trading_order_outcomes_total{outcome="failed", reason_code="LIVE_TRADING_DISABLED"}'),
             timeout=60, message="the venue failure scraped")
    wait_for(lambda: prometheus.series_count("trading_risk_state") and prometheus.series_count("trading_consumer_lag_messages"),
             timeout=30, message="the periodic gauges scraped")
    assert prometheus.series_count('trading_dlq_messages_total{topic="paper.signals.raw.dlq"} == 1') == 1

    # A second dead letter after Prometheus saw the first: the counter grows, the alert fires.
    cluster.produce("paper.signals.raw", [(b"paper", b"{broken")])
    # Halt paper through the API: the risk state gauge turns HALTED, the alert fires.
    assert worker.request("POST", "/api/v1/risk/paper/halt", {"reason": "monitoring test"})[0] == 200
    wait_for(lambda: {"AlphaPandaDeadLetters", "AlphaPandaTradingHalted"} <= set(firing(prometheus)),
             timeout=45, message="the dead-letter and halted alerts firing")
    alerts = firing(prometheus)
    assert [a["topic"] for a in alerts["AlphaPandaDeadLetters"]] == ["paper.signals.raw.dlq"]
    assert [a["broker"] for a in alerts["AlphaPandaTradingHalted"]] == ["paper"]
    # Nothing else is wrong with this worker, and no other alert says so.
    assert set(alerts) == {"AlphaPandaDeadLetters", "AlphaPandaTradingHalted"}
    groups = prometheus.api("rules")["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) == 8 and all(rule["health"] == "ok" for rule in rules), rules

    # Every panel: the query parses and, the pipeline having run, returns series.
    empty, broken = [], []
    for dashboard, title, expr in panel_queries():
        answer = prometheus.query(expr)
        if answer["status"] != "success":
            broken.append(f"{dashboard} / {title}: {answer.get('error')}")
        elif not answer["data"]["result"]:
            empty.append(f"{dashboard} / {title}: {expr} (reads {', '.join(metric_names(expr))})")
    assert not broken, "queries Prometheus refuses:\n" + "\n".join(broken)
    assert not empty, "queries without data:\n" + "\n".join(empty)
