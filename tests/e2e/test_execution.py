"""Execution end to end: real broker, real worker processes, the local Kite server; Kafka and HTTP only.

- paper limit orders rest and fill partially and then completely on later ticks;
- a third broker comes from a venue plugin (``VENUE_PLUGINS``) and trades on its own topics;
- with live trading disabled, a zerodha order fails and Kite hears nothing;
- live zerodha orders: submitted on acceptance, filled by postbacks (checksum checked), and a dead
  session halts zerodha trading and shows in health;
- fault isolation: while Kite hangs, paper fills keep their rate.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import statistics
import threading
from datetime import datetime, timedelta, timezone

import pytest

from tests.support.kite_rest_server import Fault, KiteRestServer
from tests.support.pipeline import REPO, Cluster, Worker, envelope, wait_for

INFY = 408065
API_KEY, ACCESS_TOKEN, API_SECRET = "e2ekey", "e2etoken", "e2esecret"


class KiteInThread:
    """The local Kite REST server on its own event loop in a background thread, so the test's
    blocking Kafka and HTTP helpers never stall it."""

    def __init__(self) -> None:
        self.server = KiteRestServer(api_key=API_KEY, access_token=ACCESS_TOKEN)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="kite-server", daemon=True)

    def __enter__(self) -> KiteRestServer:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.__aenter__(), self.loop).result(10)
        return self.server

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.server.__aexit__(None, None, None), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def kite():
    with KiteInThread() as server:
        yield server


@pytest.fixture
def make_cluster(tmp_path):
    clusters: list[Cluster] = []

    def make(*brokers: str) -> Cluster:
        cluster = Cluster(tmp_path, brokers=brokers).start()
        clusters.append(cluster)
        return cluster

    yield make
    for cluster in clusters:
        cluster.stop()


@pytest.fixture
def start_worker():
    started: list[Worker] = []

    def start(cluster: Cluster, **env: str) -> Worker:
        worker = Worker(cluster, env={"PYTHONPATH": str(REPO), **env})
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.stop()


def zerodha_env(kite: KiteRestServer, *, enabled: bool) -> dict[str, str]:
    return {
        "TRADING__ZERODHA__ENABLED": "true" if enabled else "false",
        "ZERODHA__API_KEY": API_KEY, "ZERODHA__ACCESS_TOKEN": ACCESS_TOKEN, "ZERODHA__API_SECRET": API_SECRET,
        "ZERODHA__API_ROOT": kite.root,
    }


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def signal(broker: str, event_id: str, *, quantity: int = 10, side: str = "BUY", price: float = 1500.0,
           order_type: str = "MARKET", limit_price: float | None = None) -> bytes:
    data = {"strategy_id": "manual", "instrument_token": INFY, "signal_type": side, "quantity": quantity,
            "price": price, "timestamp": iso(datetime.now(timezone.utc)), "order_type": order_type}
    if limit_price is not None:
        data["limit_price"] = limit_price
    return envelope("trading_signal", data, broker=broker, event_id=event_id)


def tick(price: float, at: datetime, *, last_quantity: int | None = None) -> tuple[bytes, bytes]:
    data = {"instrument_token": INFY, "last_price": price, "timestamp": iso(at)}
    if last_quantity is not None:
        data["last_quantity"] = last_quantity
    return str(INFY).encode(), envelope("market_tick", data, broker=None)


def outcomes(cluster: Cluster, topic: str, signal_ids: set[str] | None = None, *, timeout: float = 2.0) -> list[dict]:
    events = cluster.events(topic, expect=1, timeout=timeout)
    return [e for e in events if signal_ids is None or e["data"]["signal_id"] in signal_ids]


def wait_outcomes(cluster: Cluster, topic: str, signal_ids: set[str], count: int, timeout: float = 60.0) -> list[dict]:
    return wait_for(lambda: (lambda found: found if len(found) >= count else None)(outcomes(cluster, topic, signal_ids)),
                    timeout=timeout, interval=0.5, message=f"{count} events on {topic}")


def order_of(worker: Worker, broker: str, signal_id: str) -> dict | None:
    _, body = worker.get(f"/api/v1/orders/{broker}")
    return next((o for o in body.get("orders", []) if o["signal_id"] == signal_id), None)


# Paper, a third broker, live trading off -------------------------------------------------------


def test_paper_orders_rest_and_fill_on_later_ticks_a_plugin_broker_trades_and_zerodha_stays_off(make_cluster, start_worker, kite):
    cluster = make_cluster("paper", "paper2", "zerodha")
    worker = start_worker(cluster, VENUE_PLUGINS="tests.support.third_venue", TRADING__PAPER__SLIPPAGE_BPS="0",
                          TRADING__PAPER__COMMISSION="none", **zerodha_env(kite, enabled=False))

    # A limit buy below the market rests, then fills 4 and 6 on the ticks that cross it.
    cluster.produce("paper.signals.raw", [(b"paper", signal("paper", "limit-1", quantity=10, price=1500.0,
                                                            order_type="LIMIT", limit_price=1490.0))])
    wait_outcomes(cluster, "paper.orders.submitted", {"limit-1"}, 1)
    assert outcomes(cluster, "paper.orders.filled", {"limit-1"}) == []
    now = datetime.now(timezone.utc)
    cluster.produce("market.ticks", [
        tick(1495.0, now + timedelta(seconds=1), last_quantity=50),
        tick(1489.0, now + timedelta(seconds=2), last_quantity=4),
        tick(1488.5, now + timedelta(seconds=3), last_quantity=50),
    ])
    fills = wait_outcomes(cluster, "paper.orders.filled", {"limit-1"}, 2)
    assert [(f["data"]["quantity"], f["data"]["fill_price"], f["data"]["filled_quantity"]) for f in fills] == [
        (4, 1489.0, 4), (6, 1488.5, 10)]
    wait_for(lambda: (order_of(worker, "paper", "limit-1") or {}).get("state") == "FILLED", message="order FILLED")

    # The plugin's broker trades in its own lane and topics.
    cluster.produce("paper2.signals.raw", [(b"paper2", signal("paper2", "third-1", quantity=3, price=1500.0))])
    [third] = wait_outcomes(cluster, "paper2.orders.filled", {"third-1"}, 1)
    assert third["broker"] == "paper2" and third["data"]["fill_price"] == 1500.0
    assert outcomes(cluster, "paper.orders.filled", {"third-1"}) == []

    # Live trading is off: the zerodha order fails and Kite hears nothing.
    cluster.produce("zerodha.signals.raw", [(b"zerodha", signal("zerodha", "off-1"))])
    [failed] = wait_outcomes(cluster, "zerodha.orders.failed", {"off-1"}, 1)
    assert failed["data"]["reason_code"] == "LIVE_TRADING_DISABLED"
    assert kite.count() == 0


# Live zerodha ------------------------------------------------------------------------------------


def checksum(order: dict) -> str:
    return hashlib.sha256(f"{order['order_id']}{order['order_timestamp']}{API_SECRET}".encode()).hexdigest()


def test_a_live_order_is_submitted_filled_by_postbacks_and_a_dead_session_halts_zerodha(cluster, start_worker, kite):
    worker = start_worker(cluster, **zerodha_env(kite, enabled=True))

    cluster.produce("zerodha.signals.raw", [(b"zerodha", signal("zerodha", "live-1", quantity=10))])
    [placed] = wait_outcomes(cluster, "zerodha.orders.submitted", {"live-1"}, 1)
    [kite_order] = kite.orders.values()
    assert placed["data"]["venue_order_id"] == kite_order["order_id"]
    assert (kite_order["tradingsymbol"], kite_order["exchange"], kite_order["quantity"]) == ("INFY", "NSE", 10)

    partial = kite.fill(kite_order["order_id"], 4, 1500.5)
    status, body = worker.request("POST", "/api/v1/venues/zerodha/postback", {**partial, "checksum": "forged"})
    assert status == 403 and "checksum" in body["error"]
    status, body = worker.request("POST", "/api/v1/venues/zerodha/postback", {**partial, "checksum": checksum(partial)})
    assert status == 200 and body["accepted"] is True
    complete = kite.fill(kite_order["order_id"], 6, 1501.0)
    worker.request("POST", "/api/v1/venues/zerodha/postback", {**complete, "checksum": checksum(complete)})
    fills = wait_outcomes(cluster, "zerodha.orders.filled", {"live-1"}, 2)
    assert [(f["data"]["quantity"], f["data"]["fill_price"]) for f in fills] == [(4, 1500.5), (6, 1501.0)]
    wait_for(lambda: (order_of(worker, "zerodha", "live-1") or {}).get("state") == "FILLED", message="order FILLED")

    # The access token expires: the order fails, zerodha trading halts, health says why.
    kite.fail_next(Fault.TOKEN, times=5, method=None)
    cluster.produce("zerodha.signals.raw", [(b"zerodha", signal("zerodha", "live-2", side="SELL"))])
    [failed] = wait_outcomes(cluster, "zerodha.orders.failed", {"live-2"}, 1)
    assert failed["data"]["reason_code"] == "VENUE_SESSION_INVALID"
    wait_for(lambda: worker.get("/api/v1/risk/zerodha")[1].get("state") == "HALTED", message="zerodha halted")
    assert worker.get("/api/v1/risk/paper")[1]["state"] == "ACTIVE"
    status, health = worker.get("/api/v1/health")
    assert status == 503 and health["brokers"]["zerodha"]["venue"]["status"] == "session_invalid"
    assert health["brokers"]["paper"]["status"] == "ok"

    placements = len(kite.placements())
    cluster.produce("zerodha.signals.raw", [(b"zerodha", signal("zerodha", "live-3"))])
    rejected = wait_for(lambda: [e for e in cluster.events("zerodha.signals.rejected", expect=1, timeout=2)
                                 if e["causation_id"] == "live-3"], message="live-3 rejected")
    assert rejected[0]["data"]["reason_code"] == "TRADING_HALTED"
    assert len(kite.placements()) == placements


# Fault isolation ----------------------------------------------------------------------------------


def paced(cluster: Cluster, tag: str, pairs: int, per_second: float) -> tuple[set[str], set[str]]:
    """``pairs`` paper and zerodha signals, alternating, at a fixed offered rate of pairs/s."""
    paper_ids, zerodha_ids = set(), set()

    async def go():
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=cluster.bootstrap, linger_ms=0)
        await producer.start()
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            for i in range(pairs):
                await asyncio.sleep(max(0.0, start + i / per_second - loop.time()))
                side = "BUY" if i % 2 == 0 else "SELL"
                for broker, ids in (("paper", paper_ids), ("zerodha", zerodha_ids)):
                    event_id = f"{tag}-{broker[0]}{i}"
                    ids.add(event_id)
                    await producer.send_and_wait(f"{broker}.signals.raw", key=broker.encode(),
                                                 value=signal(broker, event_id, quantity=1, side=side))
        finally:
            await producer.stop()

    asyncio.run(go())
    return paper_ids, zerodha_ids


def paper_fill_stats(cluster: Cluster, signal_ids: set[str], signal_times: dict[str, datetime]) -> dict:
    fills = wait_outcomes(cluster, "paper.orders.filled", signal_ids, len(signal_ids), timeout=120)
    stamps = {f["data"]["signal_id"]: datetime.fromisoformat(f["timestamp"].replace("Z", "+00:00")) for f in fills}
    latencies = sorted((stamps[s] - signal_times[s]).total_seconds() * 1000 for s in signal_ids)
    span = (max(stamps.values()) - min(signal_times[s] for s in signal_ids)).total_seconds()
    return {
        "fills": len(stamps),
        "rate_per_s": round(len(stamps) / span, 1),
        "latency_ms_p50": round(statistics.median(latencies), 1),
        "latency_ms_p95": round(latencies[int(0.95 * (len(latencies) - 1))], 1),
        "latency_ms_max": round(latencies[-1], 1),
    }


def signal_times(cluster: Cluster, ids: set[str]) -> dict[str, datetime]:
    raw = cluster.events("paper.signals.raw", expect=1, timeout=2)
    return {e["id"]: datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")) for e in raw if e["id"] in ids}


#: How long Kite hangs in the test (3 s in the suite; e.g. 300 to watch five minutes of it).
HANG_SECONDS = float(os.environ.get("FAULT_ISOLATION_HANG_SECONDS", "3"))


@pytest.mark.serial  # compares two fill rates: another test beside it skews one of them
def test_paper_fills_keep_their_rate_while_the_kite_api_hangs(cluster, start_worker, kite, capsys):
    # A fixed offered load (paper and zerodha signals alternating), first with Kite healthy, then
    # with every Kite request hanging: paper must keep its fill rate and latency.
    pairs, per_second = 60, 20.0
    hang_pairs = max(pairs, int(HANG_SECONDS * per_second))
    worker = start_worker(cluster, TRADING__PAPER__COMMISSION="none", **zerodha_env(kite, enabled=True))
    for broker in ("paper", "zerodha"):
        status, _ = worker.request("PUT", f"/api/v1/risk/{broker}/limits", {"max_orders_per_minute": None})
        assert status == 200
        wait_for(lambda: worker.get(f"/api/v1/risk/{broker}")[1].get("limits", {}).get("max_orders_per_minute", 0) is None,
                 message=f"{broker} limits applied")

    # Kite healthy.
    paper_ids, zerodha_ids = paced(cluster, "ok", pairs, per_second)
    healthy = paper_fill_stats(cluster, paper_ids, signal_times(cluster, paper_ids))
    wait_outcomes(cluster, "zerodha.orders.submitted", zerodha_ids, pairs, timeout=60)

    # Kite hangs: every request waits (the client gives up after its timeout and retries).
    kite.fail_next(Fault.HANG, times=10_000, method=None, hang=60)
    requests_before = kite.count()
    paper_ids, zerodha_ids = paced(cluster, "hang", hang_pairs, per_second)
    hanging = paper_fill_stats(cluster, paper_ids, signal_times(cluster, paper_ids))
    zerodha_done = len(outcomes(cluster, "zerodha.orders.submitted", zerodha_ids)) + len(
        outcomes(cluster, "zerodha.orders.failed", zerodha_ids))

    report = {"pairs": pairs, "hanging_pairs": hang_pairs, "offered_pairs_per_s": per_second, "kite_healthy": healthy, "kite_hanging": hanging,
              "zerodha_orders_finished_while_paper_filled": zerodha_done,
              "kite_requests_while_hanging": kite.count() - requests_before}
    with capsys.disabled():
        print("\nfault isolation:", json.dumps(report))
    assert kite.count() > requests_before and zerodha_done < hang_pairs  # zerodha really was stuck
    assert healthy["fills"] == pairs and hanging["fills"] == hang_pairs
    assert hanging["rate_per_s"] >= 0.7 * healthy["rate_per_s"]


def test_a_failing_kite_opens_the_zerodha_circuit_orders_fail_at_once_and_paper_trades_on(cluster, start_worker, kite):
    worker = start_worker(cluster, **zerodha_env(kite, enabled=True), ZERODHA__TIMEOUT="1", ZERODHA__MAX_RETRIES="1",
                          ZERODHA__CIRCUIT_FAILURES="3", ZERODHA__CIRCUIT_COOLDOWN_SECONDS="120")
    assert worker.request("PUT", "/api/v1/risk/zerodha/limits", {"max_orders_per_minute": None})[0] == 200
    wait_for(lambda: worker.get("/api/v1/risk/zerodha")[1].get("limits", {}).get("max_orders_per_minute", 0) is None,
             message="zerodha limits applied")
    kite.fail_next(Fault.SERVER_ERROR, times=10_000)
    zerodha_ids = [f"kite-down-{i}" for i in range(4)]
    for signal_id in zerodha_ids:
        cluster.produce("zerodha.signals.raw", [(b"zerodha", signal("zerodha", signal_id))])
    failed = {e["data"]["signal_id"]: e["data"]["reason_code"]
              for e in wait_outcomes(cluster, "zerodha.orders.failed", set(zerodha_ids), 4)}
    # Three failed attempts (the first order's two, the second's first) opened the circuit: the
    # rest failed at once with the stable code, without another request to Kite.
    assert [failed[i] for i in zerodha_ids] == ["VENUE_UNAVAILABLE"] + ["VENUE_CIRCUIT_OPEN"] * 3
    assert kite.count("POST") == 3
    status, health = worker.get("/api/v1/health")
    venue = health["brokers"]["zerodha"]["venue"]
    assert status == 503 and venue["status"] == "circuit_open" and venue["circuit"]["state"] == "open"
    assert health["brokers"]["paper"]["status"] == "ok"
    # Paper is untouched, and zerodha is not halted: the circuit is a cool-down, not a decision.
    cluster.produce("paper.signals.raw", [(b"paper", signal("paper", "paper-meanwhile"))])
    wait_outcomes(cluster, "paper.orders.filled", {"paper-meanwhile"}, 1)
    assert worker.get("/api/v1/risk/zerodha")[1]["state"] == "ACTIVE"
