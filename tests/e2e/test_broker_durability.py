"""The embedded Kafka keeps what the pipeline wrote, and workers ride out its restarts and crashes.

Real broker, real worker processes; the tests talk to them through Kafka topics, HTTP and the
``alphapanda broker`` commands only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from alphapanda.embedded_broker.install import OTHER_MAJOR_VERSION, is_installed
from tests.support.pipeline import BROKER_KIND, KAFKA_MISSING, Cluster, Worker, trading_signal, wait_for

pytestmark = pytest.mark.skipif(BROKER_KIND != "kafka", reason=KAFKA_MISSING or "the tests run on Tansu")


def alphapanda(cluster: Cluster, *args: str, stdin: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """``alphapanda ARGS`` as a user runs it, against the cluster's broker and data dir."""
    env = {**os.environ, "KAFKA_URL": cluster.kafka_url, "DATA_DIR": str(cluster.root / "cluster")}
    return subprocess.run([sys.executable, "-m", "alphapanda", *args], env=env, input=stdin,
                          capture_output=True, timeout=timeout, cwd=cluster.root)


def fill_counts(cluster: Cluster, signal_ids: set[str]) -> Counter:
    events = cluster.events("paper.orders.filled", expect=1, timeout=3)
    return Counter(e["data"]["signal_id"] for e in events if e["data"]["signal_id"] in signal_ids)


def wait_for_fills(cluster: Cluster, signal_ids: set[str], timeout: float = 90) -> Counter:
    wait_for(lambda: set(fill_counts(cluster, signal_ids)) == signal_ids, timeout=timeout,
             message=f"fills of all {len(signal_ids)} signals")
    return fill_counts(cluster, signal_ids)


def paper_quantity(worker: Worker) -> int:
    status, summary = worker.get("/api/v1/portfolios/paper/summary")
    return sum(p["quantity"] for p in summary.get("positions", []) if p["instrument_token"] == 408065)


def test_broker_stop_and_start_keep_positions_orders_risk_state_and_dead_letters(cluster, workers):
    worker = workers("w1")
    assert worker.request("PUT", "/api/v1/risk/paper/limits", {"max_order_quantity": 50})[0] == 200
    assert worker.request("POST", "/api/v1/risk/zerodha/halt")[0] == 200
    cluster.produce("paper.signals.raw", [
        (b"paper", b'{"not an envelope'),
        (b"paper", trading_signal("paper", quantity=7, event_id="kept-1")),
    ])
    wait_for_fills(cluster, {"kept-1"})
    wait_for(lambda: paper_quantity(worker) == 7, message="the position")
    wait_for(lambda: worker.get("/api/v1/risk/zerodha")[1]["state"] == "HALTED", message="zerodha halted")
    worker.stop()

    stopped = alphapanda(cluster, "broker", "stop")
    assert stopped.returncode == 0 and b"stopped" in stopped.stdout
    status = alphapanda(cluster, "broker", "status")
    assert status.returncode == 1 and status.stdout.decode().strip() == f"node 1 at {cluster.bootstrap} stopped"
    started = alphapanda(cluster, "broker", "start")
    assert started.returncode == 0, started.stderr.decode()
    status = alphapanda(cluster, "broker", "status").stdout.decode().strip()
    assert status.startswith(f"node 1 at {cluster.bootstrap} pid ") and status.endswith(" running")
    # A start on a running broker changes nothing.
    again = alphapanda(cluster, "broker", "start")
    assert again.returncode == 0 and alphapanda(cluster, "broker", "status").stdout.decode().strip() == status

    # A worker with no local state of its own: everything comes back from the broker.
    fresh = workers("w2")
    wait_for(lambda: paper_quantity(fresh) == 7, message="the position after the restart")
    orders = fresh.get("/api/v1/orders/paper")[1]["orders"]
    assert [o["signal_id"] for o in orders] == ["kept-1"]
    risk = fresh.get("/api/v1/risk/paper")[1]
    assert risk["limits"]["max_order_quantity"] == 50
    assert fresh.get("/api/v1/risk/zerodha")[1]["state"] == "HALTED"
    letters = cluster.events("paper.signals.raw.dlq")
    assert [letter["data"]["value"] for letter in letters] == ['{"not an envelope']
    # And the pipeline goes on, with the limit it kept.
    cluster.produce("paper.signals.raw", [(b"paper", trading_signal("paper", quantity=60, event_id="too-big"))])
    rejected = wait_for(lambda: [e for e in cluster.events("paper.signals.rejected", expect=1, timeout=2)
                                 if e["causation_id"] == "too-big"], message="the rejection")
    assert rejected[0]["data"]["reason_code"] == "MAX_ORDER_QUANTITY_EXCEEDED"


def test_a_broker_sigkill_under_a_running_worker_loses_nothing_and_doubles_nothing(cluster, workers):
    worker = workers("w1")
    before = {f"before-{i}" for i in range(30)}
    after = {f"after-{i}" for i in range(30)}
    cluster.produce("paper.signals.raw", [(b"paper", trading_signal("paper", quantity=1, event_id=i)) for i in sorted(before)])
    # Signals in flight: some are handled, some are not yet, when the broker dies.
    cluster.broker.kill()
    wait_for(lambda: worker.get("/api/v1/health")[0] == 503, timeout=20, message="health degraded")
    status, health = worker.get("/api/v1/health")
    assert health["status"] == "degraded" and health["kafka"]["reachable"] is False
    assert worker.process.poll() is None

    cluster.broker.start()
    cluster.produce("paper.signals.raw", [(b"paper", trading_signal("paper", quantity=1, event_id=i)) for i in sorted(after)])
    counts = wait_for_fills(cluster, before | after)
    assert set(counts.values()) == {1}, {k: n for k, n in counts.items() if n != 1}
    wait_for(lambda: paper_quantity(worker) == 60, message="all 60 in the position")
    wait_for(lambda: worker.get("/api/v1/health")[0] == 200, message="health ok again")
    assert worker.process.poll() is None, "the worker was not meant to restart"
    assert worker.get("/api/v1/portfolios/paper/summary")[1]["fills"] == 60


def test_kafkas_console_tools_round_trip_through_the_pipeline(cluster, workers):
    workers("w1")
    line = b"paper|" + trading_signal("paper", quantity=3, event_id="by-console") + b"\n"
    sent = alphapanda(cluster, "broker", "tool", "kafka-console-producer", "--topic", "paper.signals.raw",
                      "--reader-property", "parse.key=true", "--reader-property", "key.separator=|", stdin=line)
    assert sent.returncode == 0, sent.stderr.decode()
    wait_for_fills(cluster, {"by-console"})

    read = alphapanda(cluster, "broker", "tool", "kafka-console-consumer", "--topic", "paper.orders.filled",
                      "--from-beginning", "--max-messages", "1", "--timeout-ms", "30000",
                      "--formatter-property", "print.key=true", "--formatter-property", "key.separator=|")
    assert read.returncode == 0, read.stderr.decode()
    key, value = read.stdout.decode().strip().split("|", 1)
    fill = json.loads(value)
    assert key == "paper" and fill["type"] == "order_filled" and fill["data"]["signal_id"] == "by-console"

    topics = alphapanda(cluster, "broker", "tool", "kafka-topics", "--list").stdout.decode().split()
    assert {"market.ticks", "paper.signals.raw", "paper.orders.filled.dlq"} <= set(topics)
    groups = alphapanda(cluster, "broker", "tool", "kafka-consumer-groups", "--describe", "--group", "alphapanda")
    assert groups.returncode == 0 and "paper.signals.raw" in groups.stdout.decode()
    unknown = alphapanda(cluster, "broker", "tool", "kafka-nonsense")
    assert unknown.returncode != 0 and b"unknown tool" in unknown.stderr


@pytest.mark.skipif(not is_installed(OTHER_MAJOR_VERSION), reason=f"Kafka {OTHER_MAJOR_VERSION} not installed")
def test_the_pipeline_on_the_other_major_version_keeps_a_position_across_a_broker_restart(tmp_path):
    cluster = Cluster(tmp_path, version=OTHER_MAJOR_VERSION).start()
    started: list[Worker] = []
    try:
        worker = Worker(cluster, name="w1")
        started.append(worker.start())
        cluster.produce("paper.signals.raw", [(b"paper", trading_signal("paper", quantity=4, event_id="old-major"))])
        wait_for_fills(cluster, {"old-major"})
        wait_for(lambda: paper_quantity(worker) == 4, message="the position")
        cluster.restart_broker(down_for=5)
        cluster.produce("paper.signals.raw", [(b"paper", trading_signal("paper", quantity=1, event_id="old-major-2"))])
        assert set(wait_for_fills(cluster, {"old-major", "old-major-2"}).values()) == {1}
        worker.stop()
        fresh = Worker(cluster, name="w2")
        started.append(fresh.start())
        wait_for(lambda: paper_quantity(fresh) == 5, message="the position on a fresh worker")
        assert cluster.broker.version == OTHER_MAJOR_VERSION
    finally:
        for w in started:
            w.stop()
        cluster.stop()
