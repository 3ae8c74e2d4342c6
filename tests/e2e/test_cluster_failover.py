"""A 3-node local Kafka cluster with 3 replicas: a node killed mid-stream loses no fill.

Made and restarted with ``alphapanda broker start --nodes 3`` as a user would; the worker is a
real process, and the test talks to it through Kafka topics, HTTP and the CLI only. The nodes
killed are the ones that matter most: first the one the worker's group coordinator lives on,
then (after the first is back and caught up) the leader of the account's order flow.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.partitioner import murmur2

from tests.support.pipeline import BROKER_KIND, KAFKA_MISSING, Cluster, Worker, run_async, trading_signal, wait_for

pytestmark = pytest.mark.skipif(BROKER_KIND != "kafka", reason=KAFKA_MISSING or "the tests run on Tansu")

ORDER_FLOW = "paper.orders.submitted"


def alphapanda(cluster: Cluster, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, **cluster.env(), "DATA_DIR": str(cluster.root / "cluster")}
    return subprocess.run([sys.executable, "-m", "alphapanda", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=cluster.root)


async def _describe(cluster: Cluster, topics: list[str] | None = None) -> dict:
    admin = AIOKafkaAdminClient(**cluster.connection.options())
    await admin.start()
    try:
        names = topics or await admin.list_topics()
        described = {d["topic"]: d["partitions"] for d in await admin.describe_topics(names)}
        coordinator = await admin.find_coordinator("alphapanda")
        configs = {}
        for response in await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t) for t in names]):
            for resource in response.resources:
                configs[resource[3]] = {entry[0]: entry[1] for entry in resource[4]}
        return {"partitions": described, "coordinator": coordinator, "configs": configs}
    finally:
        await admin.close()


def order_flow_leader(cluster: Cluster) -> int:
    """The node leading the partition the paper account's orders are keyed to."""
    partitions = run_async(_describe(cluster, [ORDER_FLOW]))["partitions"][ORDER_FLOW]
    index = (murmur2(b"paper") & 0x7FFFFFFF) % len(partitions)
    return next(p["leader"] for p in partitions if p["partition"] == index)


def fills(cluster: Cluster, ids: set[str]) -> Counter:
    events = cluster.events("paper.orders.filled", expect=1, timeout=3)
    return Counter(e["data"]["signal_id"] for e in events if e["data"]["signal_id"] in ids)


def send_signals(cluster: Cluster, prefix: str, count: int = 20) -> set[str]:
    ids = {f"{prefix}-{i}" for i in range(count)}
    cluster.produce("paper.signals.raw", [(b"paper", trading_signal("paper", quantity=1, event_id=i)) for i in sorted(ids)])
    return ids


def kill_node_mid_stream(cluster: Cluster, worker: Worker, node_id: int, label: str, sent: set[str]) -> tuple[set[str], float]:
    """Signals in flight, node ``node_id`` SIGKILLed, more signals: every fill once; seconds to the
    first fill of a signal sent after the kill."""
    before = send_signals(cluster, f"{label}-before")
    killed_at = time.monotonic()
    assert cluster.broker.node(node_id).kill()
    after = send_signals(cluster, f"{label}-after")
    wait_for(lambda: fills(cluster, after), timeout=60, interval=0.1, message="a fill after the kill")
    recovered = time.monotonic() - killed_at
    everything = sent | before | after
    wait_for(lambda: set(fills(cluster, everything)) == everything, timeout=90, message=f"all {len(everything)} fills")
    counts = fills(cluster, everything)
    doubled = [e for e in cluster.events("paper.orders.filled", expect=1, timeout=3)
               if counts.get(e["data"]["signal_id"], 0) > 1]
    assert set(counts.values()) == {1}, [(e["id"], e["data"]["signal_id"], e["data"].get("order_id")) for e in doubled]
    assert worker.process.poll() is None, f"the worker died:\n{worker.tail()}"
    return everything, recovered


def test_a_node_killed_mid_stream_loses_no_fill_and_catches_up_after_its_restart(tmp_path):
    cluster = Cluster(tmp_path, brokers=("paper",), nodes=3, replication=3)
    started = alphapanda(cluster, "broker", "start", "--nodes", "3")
    worker = None
    try:
        assert started.returncode == 0, started.stderr
        # `start` prints each node's status line.
        lines = [line.removeprefix("kafka ").split(" (log ")[0] for line in started.stdout.strip().splitlines()[:3]]
        for i, line in enumerate(lines):
            assert line.startswith(f"node {i + 1} at 127.0.0.1:{cluster.port + i} pid ") and line.endswith(" running")
        created = alphapanda(cluster, "topics", "create")
        assert created.returncode == 0 and "replication factor 3" in created.stdout, created.stdout + created.stderr

        worker = Worker(cluster).start()
        described = run_async(_describe(cluster))
        # Every topic the app made, its own and Faust's changelogs alike, has 3 replicas and min ISR 2.
        app_topics = [t for t in described["partitions"] if not t.startswith("__")]
        assert any(t.endswith("-changelog") for t in app_topics), app_topics
        for topic in app_topics:
            assert {len(p["replicas"]) for p in described["partitions"][topic]} == {3}, topic
            assert described["configs"][topic]["min.insync.replicas"] == "2", topic

        sent = send_signals(cluster, "warm-up", 5)
        wait_for(lambda: set(fills(cluster, sent)) == sent, timeout=60, message="the first fills")

        coordinator = run_async(_describe(cluster, [ORDER_FLOW]))["coordinator"]
        sent, first = kill_node_mid_stream(cluster, worker, coordinator, "coordinator", sent)

        # The killed node comes back with `broker start`, which leaves the running nodes alone.
        pids = {line.split()[1]: line for line in lines}
        again = alphapanda(cluster, "broker", "status")
        assert again.returncode == 1 and f"node {coordinator} at" in again.stdout and " stopped" in again.stdout
        again = alphapanda(cluster, "broker", "start")
        assert again.returncode == 0, again.stderr
        now = cluster.broker.status_lines()
        assert all(line.endswith(" running") for line in now), now
        for i, line in enumerate(now, start=1):
            if i != coordinator:
                assert line == pids[str(i)], (line, pids[str(i)])
        # It catches up: back in the in-sync replicas of every partition.
        wait_for(lambda: all(len(p["isr"]) == 3 for parts in run_async(_describe(cluster))["partitions"].values()
                             for p in parts), timeout=60, message="every replica in sync again")

        leader = order_flow_leader(cluster)
        sent, second = kill_node_mid_stream(cluster, worker, leader, "leader", sent)
        wait_for(lambda: worker.get("/api/v1/health")[0] == 200, timeout=30, message="health ok")
        assert worker.get("/api/v1/portfolios/paper/summary")[1]["fills"] == len(sent)
        print(f"\nfills flowed again {first:.1f} s after the coordinator's node (node {coordinator}) died, "
              f"{second:.1f} s after the order flow's leader (node {leader}) died")
    finally:
        if worker is not None:
            worker.stop()
        stopped = alphapanda(cluster, "broker", "stop")
    assert stopped.returncode == 0
    assert [line.endswith(" stopped") for line in cluster.broker.status_lines()] == [True] * 3
