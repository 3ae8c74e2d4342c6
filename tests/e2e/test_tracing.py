"""Tracing through a real worker: one trace per tick-to-fill chain, across every stage, its
context carried in Kafka headers (the SDK's in-memory exporter, tests/support/traced_worker.py)."""

import json

import pytest
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tests.support.pipeline import Worker, envelope, trading_signal, wait_for

REPO = Path(__file__).resolve().parents[2]
# The chain, in order: each span the child of the one before (the fill's pnl snapshot goes back
# to the risk stage, for the daily loss limit, and is part of it).
CHAIN = ["strategy_runner market.ticks", "risk_manager paper.signals.raw", "execution paper.signals.validated",
         "portfolio paper.orders.filled", "risk_manager paper.pnl.snapshots"]


def rising_ticks(token: int, count: int) -> list[tuple[bytes, bytes]]:
    """Ticks whose price climbs 0.1 % each: the bundled momentum_v1 buys after its lookback."""
    start = datetime.now(timezone.utc) - timedelta(seconds=count)
    return [(str(token).encode(), envelope("market_tick", {
        "instrument_token": token, "last_price": round(1500 * 1.001 ** i, 2),
        "timestamp": (start + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
    }, broker=None)) for i in range(count)]


def spans(path: Path) -> list[dict]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return []


@pytest.fixture
def traced_worker(cluster):
    """``traced_worker(dump, **env)``: a worker whose spans go to the in-memory exporter and ``dump``."""
    started = []

    def start(dump: Path, **env) -> Worker:
        worker = Worker(cluster, module="tests.support.traced_worker", env={
            "TRACING__ENABLED": "true", "TRACE_DUMP": str(dump), "PYTHONPATH": str(REPO), **env})
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.stop()


def test_a_tick_to_fill_chain_is_one_trace_across_the_stages(cluster, traced_worker, tmp_path):
    dump = tmp_path / "spans.json"
    traced_worker(dump)
    cluster.produce("market.ticks", rising_ticks(408065, 14))
    fill = cluster.consume("paper.orders.filled", expect=1, timeout=60)[0]
    correlation_id = json.loads(fill["value"])["correlation_id"]

    def chain() -> dict[str, dict]:
        found = [s for s in spans(dump) if s["attributes"].get("alphapanda.correlation_id") == correlation_id]
        return {s["name"]: s for s in found if s["attributes"].get("alphapanda.broker") in (None, "paper")}

    try:
        wait_for(lambda: set(chain()) == set(CHAIN), timeout=30, message=f"a span per stage for {correlation_id}")
    except TimeoutError as exc:
        raise AssertionError(f"spans of {correlation_id}: {sorted(chain())}, not {sorted(CHAIN)}") from exc
    by_name = chain()
    root = by_name[CHAIN[0]]
    assert root["parent_id"] is None
    # One trace; each stage's span is the child of the span that sent its input.
    assert {s["trace_id"] for s in by_name.values()} == {root["trace_id"]}
    for parent, child in zip(CHAIN, CHAIN[1:]):
        assert by_name[child]["parent_id"] == by_name[parent]["span_id"], (parent, child)
    assert by_name[CHAIN[3]]["attributes"]["alphapanda.broker"] == "paper"
    assert by_name[CHAIN[3]]["attributes"]["messaging.kafka.offset"] == fill["offset"]
    assert all(s["status"] != "ERROR" and s["service"] == "alphapanda" for s in by_name.values())
    # The context is in the Kafka headers of the fill itself (W3C traceparent).
    traceparent = fill["headers"]["traceparent"].decode()
    assert traceparent.split("-")[1] == root["trace_id"] and traceparent.split("-")[2] == by_name[CHAIN[2]]["span_id"]
    # A signal sent from outside no traced stage starts no trace: nothing to be the child of.
    cluster.produce("paper.signals.raw", [(b"paper", trading_signal("paper", event_id="untraced-1"))])
    untraced = [e for e in cluster.events("paper.orders.filled", expect=2, timeout=60)
                if e["correlation_id"] != correlation_id]
    assert untraced and not any(s["attributes"].get("alphapanda.correlation_id") == untraced[0]["correlation_id"]
                                for s in spans(dump))


def test_without_the_setting_nothing_is_traced(cluster, traced_worker, tmp_path):
    dump = tmp_path / "spans.json"
    traced_worker(dump, TRACING__ENABLED="false")
    cluster.produce("market.ticks", rising_ticks(408065, 14))
    cluster.consume("paper.orders.filled", expect=1, timeout=60)
    wait_for(lambda: dump.exists(), timeout=10, message="the span dump")
    assert spans(dump) == []
