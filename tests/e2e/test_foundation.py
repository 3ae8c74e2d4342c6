"""The foundation end to end: the real broker, real worker processes, Kafka and HTTP only."""

import json
import subprocess
import sys

import pytest

from tests.support.pipeline import trading_signal, wait_for


def fills_for(cluster, broker, signal_id, timeout=30.0):
    def found():
        events = cluster.events(f"{broker}.orders.filled", expect=1, timeout=2)
        return [e for e in events if e["data"]["signal_id"] == signal_id]

    return wait_for(found, timeout=timeout, message=f"a fill of {signal_id} on {broker}")


def test_a_signal_published_by_hand_becomes_a_fill_and_a_position(cluster, workers):
    worker = workers()
    cluster.produce("paper.signals.raw", [(b"paper", trading_signal("paper", quantity=7, event_id="sig-hand-1"))])

    fill = fills_for(cluster, "paper", "sig-hand-1")[0]
    assert fill["broker"] == "paper" and fill["data"]["quantity"] == 7 and fill["data"]["side"] == "BUY"
    validated = cluster.events("paper.signals.validated")
    assert [v["causation_id"] for v in validated] == ["sig-hand-1"]

    def position():
        status, summary = worker.get("/api/v1/portfolios/paper/summary")
        return [p for p in summary["positions"] if p["instrument_token"] == 408065 and p["quantity"] == 7]

    wait_for(position, message="the position in the paper summary")
    status, summary = worker.get("/api/v1/portfolios/paper/summary")
    assert status == 200 and summary["broker"] == "paper" and summary["fills"] == 1


def test_malformed_json_goes_to_the_dlq_and_the_next_message_is_processed(cluster, workers):
    workers()
    cluster.produce("paper.signals.raw", [
        (b"paper", b'{"id": "broken", "type": "trading_signal", '),
        (b"paper", trading_signal("paper", event_id="sig-after-bad")),
    ])
    fills_for(cluster, "paper", "sig-after-bad")
    letters = cluster.events("paper.signals.raw.dlq")
    assert len(letters) == 1
    letter = letters[0]["data"]
    assert letter["original_topic"] == "paper.signals.raw"
    assert letter["value"] == '{"id": "broken", "type": "trading_signal", '
    assert letter["error_type"] == "DecodeError" and "JSON" in letter["error"]
    assert letter["key"] == "paper" and letter["offset"] is not None and letter["service"] == "risk_manager"


def test_two_brokers_in_one_worker_stay_isolated(cluster, workers):
    worker = workers()
    cluster.produce("paper.signals.raw", [(b"paper", trading_signal("paper", quantity=3, event_id="p-1"))])
    cluster.produce("zerodha.signals.raw", [(b"zerodha", trading_signal("zerodha", quantity=5, event_id="z-1"))])

    fills_for(cluster, "paper", "p-1")
    # Live trading is off: the zerodha order fails safely, and nothing of it reaches paper.
    failed = wait_for(lambda: cluster.events("zerodha.orders.failed", expect=1, timeout=2), message="zerodha failure")
    assert failed[0]["data"]["reason_code"] == "LIVE_TRADING_DISABLED" and failed[0]["broker"] == "zerodha"
    assert all(e["broker"] == "paper" for e in cluster.events("paper.orders.filled", timeout=1))
    assert cluster.events("zerodha.orders.filled", expect=0, timeout=1) == []

    _, paper = worker.get("/api/v1/portfolios/paper/summary")
    _, zerodha = worker.get("/api/v1/portfolios/zerodha/summary")
    assert [p["quantity"] for p in paper["positions"]] == [3]
    assert zerodha["positions"] == []
    status, body = worker.get("/api/v1/portfolios/nyse/summary")
    assert status == 404 and body["broker"] == "nyse"
    status, both = worker.get("/api/v1/portfolios/all/summary")
    assert status == 200 and set(both["brokers"]) == {"paper", "zerodha"}

    # An envelope naming another broker than its topic's is a contract error, never routed there.
    cluster.produce("paper.signals.raw", [(b"paper", trading_signal("zerodha", event_id="wrong-broker"))])
    letters = wait_for(lambda: cluster.events("paper.signals.raw.dlq", expect=1, timeout=2), message="dlq")
    assert letters[0]["data"]["error_type"] == "ContractError"
    assert [e for e in cluster.events("zerodha.signals.validated", timeout=1) if e["causation_id"] == "wrong-broker"] == []


def test_topics_of_an_inactive_broker_are_not_consumed(cluster, workers):
    workers(env={"ACTIVE_BROKERS": "paper"})
    cluster.produce("zerodha.signals.raw", [(b"zerodha", trading_signal("zerodha", event_id="z-off"))])
    cluster.produce("paper.signals.raw", [(b"paper", trading_signal("paper", event_id="p-on"))])
    fills_for(cluster, "paper", "p-on")
    for topic in ("zerodha.signals.validated", "zerodha.signals.rejected", "zerodha.signals.raw.dlq"):
        assert cluster.events(topic, expect=0, timeout=0.5) == []


def test_positions_survive_a_worker_restart(cluster, workers):
    worker = workers()
    cluster.produce("paper.signals.raw", [(b"paper", trading_signal("paper", quantity=4, event_id="keep-1"))])
    fills_for(cluster, "paper", "keep-1")
    wait_for(lambda: worker.get("/api/v1/portfolios/paper/summary")[1]["fills"] == 1, message="fill applied")
    _, before = worker.get("/api/v1/portfolios/paper/summary")

    assert worker.stop() == 0
    worker.start()
    _, after = worker.get("/api/v1/portfolios/paper/summary")
    assert after["positions"] == before["positions"] and after["fills"] == 1
    _, risk = worker.get("/api/v1/risk/paper")
    assert risk["exposure"]["positions"]["408065"]["quantity"] == 4


def test_an_unknown_broker_stops_startup_naming_it(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "alphapanda", "worker"], capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "ACTIVE_BROKERS": "paper,nyse", "DATA_DIR": str(tmp_path)}, cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "ACTIVE_BROKERS" in result.stderr and "'nyse'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("name,value", [("PRODUCER__COMPRESSION", "brotli"), ("TRACING__SAMPLE_RATIO", "2")])
def test_a_bad_tuning_or_tracing_setting_stops_startup_naming_it(tmp_path, name, value):
    result = subprocess.run(
        [sys.executable, "-m", "alphapanda", "worker"], capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", name: value, "DATA_DIR": str(tmp_path)}, cwd=tmp_path,
    )
    assert result.returncode != 0 and name in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_the_simulated_feed_drives_fills_into_the_paper_portfolio(cluster, workers):
    worker = workers(env={"MARKET_FEED": "simulated"})
    fills = wait_for(lambda: cluster.events("paper.orders.filled", expect=1, timeout=2), timeout=60, message="fills")
    assert fills and all(f["broker"] == "paper" for f in fills)
    wait_for(lambda: worker.get("/api/v1/portfolios/paper/summary")[1]["positions"], message="positions")
    status, health = worker.get("/api/v1/health")
    assert health["feed"]["running"] is True and health["market"]["instruments"] > 0


def test_a_bad_strategy_file_stops_startup_naming_the_file_and_field(tmp_path):
    strategies = tmp_path / "strategies"
    strategies.mkdir()
    (strategies / "typo.yaml").write_text(
        "id: typo\nkind: momentum\nparams: {lookback: 0, threshold: 0.001, quantity: 1}\n"
        "instruments: [408065]\nbrokers: [paper]\n")
    result = subprocess.run(
        [sys.executable, "-m", "alphapanda", "worker"], capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "STRATEGIES_DIR": str(strategies), "DATA_DIR": str(tmp_path),
             "KAFKA_URL": "kafka://127.0.0.1:1"}, cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "typo.yaml" in result.stderr and "params.lookback" in result.stderr
    assert "Traceback" not in result.stderr
