"""Portfolio web views over HTTP against real workers: routing, 404s, bearer token, CORS, snapshots."""

import json
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from alphapanda.portfolio import interval_start, snapshot_id
from tests.support.pipeline import Cluster, Worker, envelope, trading_signal, wait_for

TOKEN_VALUE = "s3cret-token"
ORIGIN = "http://dashboard.example"


def summary_quantity(worker, broker, token=408065):
    status, body = worker.get(f"/api/v1/portfolios/{broker}/summary")
    if status != 200:
        return None
    return sum(p["quantity"] for p in body["positions"] if p["instrument_token"] == token)


def raw_request(url, method="GET", headers=None):
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def tick(token, price, at):
    stamp = at.isoformat().replace("+00:00", "Z")
    return envelope("market_tick", {"instrument_token": token, "last_price": price, "timestamp": stamp}, broker=None)


# -- two workers: any worker answers for any broker -------------------------------------------


def test_every_endpoint_answers_the_same_from_either_of_two_workers(cluster, workers):
    w1 = workers("w1")
    w2 = workers("w2")
    cluster.produce("paper.signals.raw", [(b"paper", trading_signal("paper", quantity=6, event_id="two-w-1"))])
    # Both workers own partitions (the order flow of paper is on one of them only) and both
    # answer with the fill applied once the group has settled.
    for w in (w1, w2):
        wait_for(lambda: w.get("/api/v1/health")[1]["worker"]["assigned_partitions"] > 0, message=f"{w.name} assigned")
        wait_for(lambda: summary_quantity(w, "paper") == 6, timeout=60, message=f"paper position via {w.name}")

    def answers(w):
        paths = ["/api/v1/portfolios/paper/summary", "/api/v1/portfolios/zerodha/summary",
                 "/api/v1/portfolios/paper/positions", "/api/v1/portfolios/all/summary",
                 "/api/v1/orders/paper", "/api/v1/orders/zerodha", "/api/v1/risk/paper", "/api/v1/risk/zerodha"]
        return {p: w.get(p) for p in paths}

    def same_answers():
        a, b = answers(w1), answers(w2)
        return (a, b) if a == b else None

    # The risk manager applies the fill's snapshot shortly after the fill: compare settled state.
    one, two = wait_for(same_answers, message="the same answers from both workers")
    assert all(status == 200 for status, _ in one.values())
    summary = one["/api/v1/portfolios/paper/summary"][1]
    assert summary["broker"] == "paper" and summary["fills"] == 1 and summary["cash"] < 1_000_000
    assert one["/api/v1/portfolios/paper/positions"][1] == {"broker": "paper", "positions": summary["positions"]}
    aggregate = one["/api/v1/portfolios/all/summary"][1]
    assert set(aggregate["brokers"]) == {"paper", "zerodha"}
    assert aggregate["total_pnl"] == pytest.approx(summary["total_pnl"] + aggregate["brokers"]["zerodha"]["total_pnl"])
    orders = one["/api/v1/orders/paper"][1]["orders"]
    assert [(o["signal_id"], o["state"], o["filled_quantity"]) for o in orders] == [("two-w-1", "FILLED", 6)]
    assert one["/api/v1/risk/paper"][1]["exposure"]["positions"]["408065"]["quantity"] == 6
    for w in (w1, w2):
        for path in ("/api/v1/portfolios/nyse/summary", "/api/v1/portfolios/nyse/positions",
                     "/api/v1/orders/nyse", "/api/v1/risk/nyse"):
            status, body = w.get(path)
            assert (status, body["broker"]) == (404, "nyse"), path
        assert w.get("/api/v1/brokers") == (200, {"brokers": [{"name": "paper", "live": False},
                                                               {"name": "zerodha", "live": True}]})


def risk_events_processed(worker, broker: str) -> float:
    with urllib.request.urlopen(worker.url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    series = f'trading_events_processed_total{{broker="{broker}",stage="risk_manager"}} '
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(series))


def test_a_read_is_answered_by_the_worker_whose_events_wrote_the_state(cluster, workers):
    """The account's records are on the partition of its events (the bare account key). Faust's
    own router hashed the JSON key: for zerodha on 4 partitions that is partition 1 against 2,
    on the other worker whichever way the two split them, and that worker's copy was stale."""
    w1, w2 = workers("w1"), workers("w2")
    for w in (w1, w2):
        wait_for(lambda: w.get("/api/v1/health")[1]["worker"]["assigned_partitions"] > 0, message=f"{w.name} assigned")
    cluster.produce("zerodha.risk.control", [(b"zerodha", envelope("risk_command", {"action": "halt"}, broker="zerodha"))])
    wait_for(lambda: any(risk_events_processed(w, "zerodha") >= 1 for w in (w1, w2)), timeout=60,
             message="the risk stage applied the command")
    owner = w1 if risk_events_processed(w1, "zerodha") >= 1 else w2
    for through in (owner, w2 if owner is w1 else w1):
        request_id = f"read-{uuid.uuid4().hex[:8]}"
        with urllib.request.urlopen(urllib.request.Request(
                through.url + "/api/v1/risk/zerodha", headers={"X-Request-ID": request_id}), timeout=10) as response:
            assert json.loads(response.read())["state"] == "HALTED", through.name
        wait_for(lambda: f"request_id={request_id}" in owner.log_path.read_text(), timeout=10,
                 message=f"the read through {through.name} answered by the owner, {owner.name}")


def test_a_read_routed_to_a_dead_owner_answers_503_until_the_survivor_owns_it(cluster, workers):
    w1, w2 = workers("w1"), workers("w2")
    paths = [f"/api/v1/portfolios/{b}/summary" for b in cluster.brokers]
    for w in (w1, w2):
        wait_for(lambda: all(w.get(p)[0] == 200 for p in paths), timeout=60, message=f"{w.name} answers")

    def owner_of(path: str):
        """(owner, other): a read through ``other`` is forwarded to ``owner`` (its access log shows it)."""
        request_id = f"probe-{uuid.uuid4().hex[:8]}"
        status, _ = raw_request(w1.url + path, headers={"X-Request-ID": request_id})
        assert status == 200
        wait_for(lambda: f"request_id={request_id}" in w1.log_path.read_text(), message="the access line")
        forwarded = f"request_id={request_id}" in w2.log_path.read_text()
        return (w2, w1) if forwarded else (w1, w2)

    owner, other = owner_of(paths[0])
    owner.kill()
    statuses = []

    def answered():
        status, headers = raw_request(other.url + paths[0])
        statuses.append((status, headers.get("Retry-After")))
        return status == 200

    wait_for(answered, timeout=60, interval=0.2, message="the survivor answers")
    # Until the group hands the dead worker's partitions over, the survivor forwards to it, the
    # connection is refused, and the read says "retry": 503, never 500.
    assert (503, "1") in statuses, statuses
    assert all(status == 200 or (status, retry) == (503, "1") for status, retry in statuses), statuses


# -- one configured worker: token, CORS, periodic snapshots -------------------------------------


@pytest.fixture(scope="module")
def configured(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("configured")).start()
    worker = Worker(cluster, env={
        "WEB__API_TOKEN": TOKEN_VALUE, "WEB__CORS_ORIGINS": ORIGIN,
        # These tests check the 401 answers one after another; the throttle is tested in test_web_exposure.
        "WEB__AUTH_FAILURES_PER_MINUTE": "1000",
        "PORTFOLIO__SNAPSHOT_INTERVAL_SECONDS": "10", "TRADING__PAPER__STARTING_CASH": "500000",
    })
    worker.start()
    yield cluster, worker
    worker.stop()
    cluster.stop()


@pytest.mark.parametrize("method, path, body", [
    ("POST", "/api/v1/risk/zerodha/halt", {"reason": "test"}),
    ("PUT", "/api/v1/risk/zerodha/limits", {"max_order_quantity": 100}),
])
def test_write_endpoints_refuse_a_missing_or_wrong_bearer_token(configured, method, path, body):
    _, worker = configured
    assert worker.request(method, path, body)[0] == 401
    assert worker.request(method, path, body, headers={"Authorization": "Bearer wrong"})[0] == 401
    assert worker.request(method, path, body, headers={"Authorization": TOKEN_VALUE})[0] == 401


def test_write_endpoints_accept_the_bearer_token_and_the_change_is_applied(configured):
    _, worker = configured
    auth = {"Authorization": f"Bearer {TOKEN_VALUE}"}
    status, body = worker.request("PUT", "/api/v1/risk/zerodha/limits", {"max_order_quantity": 100}, headers=auth)
    assert status == 200 and body["limits"]["max_order_quantity"] == 100
    status, body = worker.request("POST", "/api/v1/risk/zerodha/halt", {"reason": "by hand"}, headers=auth)
    assert (status, body["state"]) == (200, "HALTED")
    wait_for(lambda: worker.get("/api/v1/risk/zerodha")[1]["state"] == "HALTED", message="halted")
    status, body = worker.request("POST", "/api/v1/risk/zerodha/resume", headers=auth)
    assert (status, body["state"]) == (200, "ACTIVE")
    wait_for(lambda: worker.get("/api/v1/risk/zerodha")[1]["state"] == "ACTIVE", message="resumed")
    assert worker.get("/api/v1/risk/zerodha")[1]["limits"]["max_order_quantity"] == 100


def test_reads_need_no_token(configured):
    _, worker = configured
    assert worker.get("/api/v1/portfolios/paper/summary")[0] == 200
    assert worker.get("/api/v1/risk/paper")[0] == 200


def test_a_configured_origin_gets_cors_headers_and_others_do_not(configured):
    _, worker = configured
    status, headers = raw_request(worker.url + "/api/v1/portfolios/paper/summary", headers={"Origin": ORIGIN})
    assert status == 200 and headers.get("Access-Control-Allow-Origin") == ORIGIN
    status, headers = raw_request(worker.url + "/api/v1/risk/paper/halt", method="OPTIONS", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert status == 200 and headers.get("Access-Control-Allow-Origin") == ORIGIN
    assert "AUTHORIZATION" in headers.get("Access-Control-Allow-Headers", "").upper()
    _, headers = raw_request(worker.url + "/api/v1/portfolios/paper/summary", headers={"Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in headers


def test_the_account_opens_with_the_configured_starting_cash(configured):
    _, worker = configured
    _, summary = worker.get("/api/v1/portfolios/zerodha/summary")
    assert summary["cash"] == summary["equity"] == 500_000 and summary["fills"] == 0


def test_open_positions_are_snapshotted_on_event_time_intervals(configured):
    cluster, worker = configured
    token = 738561
    t0 = datetime(2026, 11, 23, 4, 0, 3, tzinfo=UTC)
    cluster.produce("market.ticks", [(str(token).encode(), tick(token, 2500.0, t0))])
    wait_for(lambda: worker.get("/api/v1/health")[1]["market"]["instruments"] >= 1, message="tick seen")
    cluster.produce("paper.signals.raw", [(b"paper", trading_signal("paper", token=token, quantity=2, price=2500.0,
                                                                     event_id="snap-1"))])
    wait_for(lambda: summary_quantity(worker, "paper", token) == 2, message="position")
    # The market clock moves 25 s of event time: the 10 s interval starting at 04:00:20 is due.
    cluster.produce("market.ticks", [(str(token).encode(), tick(token, 2600.0, t0 + timedelta(seconds=25)))])

    expected_at = interval_start(t0 + timedelta(seconds=25), timedelta(seconds=10))
    expected_id = snapshot_id("paper", expected_at)

    def periodic():
        return [e for e in cluster.events("paper.pnl.snapshots", expect=1, timeout=1) if e["id"] == expected_id]

    snapshot = wait_for(periodic, message="the periodic snapshot")[0]
    assert snapshot["timestamp"].startswith("2026-11-23T04:00:20") and snapshot["causation_id"] is None
    position = next(p for p in snapshot["data"]["positions"] if p["instrument_token"] == token)
    assert position["last_price"] == 2600.0
    assert position["unrealized_pnl"] == pytest.approx((2600.0 - position["average_price"]) * 2)
    fill_snapshots = [e for e in cluster.events("paper.pnl.snapshots", timeout=1)
                      if e["causation_id"] and e["correlation_id"] == "snap-1"]
    assert len(fill_snapshots) == 1


def test_a_fill_reported_twice_under_new_event_ids_is_applied_once(configured):
    cluster, worker = configured
    token = 3045
    fill = {"order_id": "dup-order", "signal_id": "dup-signal", "strategy_id": "dup", "instrument_token": token,
            "side": "BUY", "quantity": 3, "fill_price": 600.0, "commission": 1.0, "fill_id": "dup-fill-1"}
    _, before = worker.get("/api/v1/portfolios/paper/summary")
    cluster.produce("paper.orders.filled", [(b"paper", envelope("order_filled", fill, broker="paper"))])
    wait_for(lambda: summary_quantity(worker, "paper", token) == 3, message="the fill applied")
    cluster.produce("paper.orders.filled", [
        (b"paper", envelope("order_filled", fill, broker="paper")),  # same fill id, new event id
        (b"paper", envelope("order_filled", {**fill, "fill_id": "dup-fill-2", "quantity": 1}, broker="paper")),
    ])
    wait_for(lambda: summary_quantity(worker, "paper", token) == 4, message="the next fill applied")
    _, after = worker.get("/api/v1/portfolios/paper/summary")
    assert after["fills"] == before["fills"] + 2
    position = next(p for p in after["positions"] if p["strategy_id"] == "dup")
    assert position["fills"] == 2 and position["realized_pnl"] == pytest.approx(-2.0)


# -- request and correlation ids, the access log -------------------------------------------------


def test_every_answer_carries_a_request_id_and_echoes_the_correlation_id(configured):
    _, worker = configured
    fresh = [raw_request(worker.url + "/api/v1/health")[1]["X-Request-ID"] for _ in range(2)]
    assert all(len(rid) == 32 for rid in fresh) and fresh[0] != fresh[1]

    status, headers = raw_request(worker.url + "/api/v1/portfolios/paper/summary",
                                  headers={"X-Request-ID": "proxy-id-1", "X-Correlation-ID": "trade-flow-7"})
    assert (status, headers["X-Request-ID"], headers["X-Correlation-ID"]) == (200, "proxy-id-1", "trade-flow-7")
    # The token guard's 401 and aiohttp's own 404 carry them too.
    status, headers = raw_request(worker.url + "/api/v1/risk/paper/halt", method="POST",
                                  headers={"X-Correlation-ID": "trade-flow-8"})
    assert status == 401 and headers["X-Correlation-ID"] == "trade-flow-8" and len(headers["X-Request-ID"]) == 32
    status, headers = raw_request(worker.url + "/no/such/page", headers={"X-Request-ID": "proxy-id-2"})
    assert status == 404 and headers["X-Request-ID"] == "proxy-id-2"
    # The dashboard page and the Prometheus scrape too.
    for path in ("/", "/metrics"):
        status, headers = raw_request(worker.url + path, headers={"X-Correlation-ID": "trade-flow-9"})
        assert status == 200 and len(headers["X-Request-ID"]) == 32 and headers["X-Correlation-ID"] == "trade-flow-9"
    # An id that cannot go into a header or log line as it is gets replaced, not echoed.
    _, headers = raw_request(worker.url + "/api/v1/health", headers={"X-Request-ID": "a b" * 100})
    assert len(headers["X-Request-ID"]) == 32 and "X-Correlation-ID" not in headers

    def access_lines():
        return [line for line in worker.log_path.read_text().splitlines() if "request_id=proxy-id-" in line]

    wait_for(lambda: len(access_lines()) == 2, message="two access log lines")
    summary, missing = access_lines()
    assert "GET /api/v1/portfolios/paper/summary 200 " in summary and " ms request_id=proxy-id-1 correlation_id=trade-flow-7" in summary
    assert "GET /no/such/page 404 " in missing and "correlation_id=-" in missing
    assert any("POST /api/v1/risk/paper/halt 401 " in line and "correlation_id=trade-flow-8" in line
               for line in worker.log_path.read_text().splitlines())


# -- history, prices, trading symbols --------------------------------------------------------------


def test_history_prices_and_symbols_come_from_the_topics_bounded_and_oldest_first(configured):
    cluster, worker = configured
    token = 2953217  # TCS in the bundled instrument master
    t0 = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
    # Nearly flat, so that no bundled strategy trades on them.
    prices = [3500.0 + (i % 2) * 0.05 for i in range(12)]
    cluster.produce("market.ticks", [(str(token).encode(), tick(token, price, t0 + timedelta(seconds=i)))
                                     for i, price in enumerate(prices)])
    wait_for(lambda: worker.get(f"/api/v1/market/{token}/ticks")[1]["ticks"][-1:] == [
        {"at": "2026-11-23T05:00:11Z", "price": prices[-1]}], message="the ticks read back")
    status, body = worker.get(f"/api/v1/market/{token}/ticks?limit=5")
    assert status == 200 and [p["price"] for p in body["ticks"]] == prices[-5:]

    for i in range(3):
        cluster.produce("paper.signals.raw", [(b"paper", trading_signal("paper", token=token, quantity=1, price=3500.0,
                                                                         event_id=f"hist-{i}"))])
    wait_for(lambda: summary_quantity(worker, "paper", token) == 3, message="three fills")
    status, history = worker.get("/api/v1/portfolios/paper/history")
    points = history["points"]
    assert status == 200 and history["broker"] == "paper" and len(points) >= 3
    assert [p["at"] for p in points] == sorted(p["at"] for p in points)
    assert set(points[-1]) >= {"at", "equity", "cash", "realized_pnl", "unrealized_pnl"}
    assert points[-1]["cash"] < points[0]["cash"]  # three buys later
    assert len(worker.get("/api/v1/portfolios/paper/history?limit=2")[1]["points"]) == 2
    assert worker.get("/api/v1/portfolios/paper/history?limit=0")[0] == 400
    assert worker.get("/api/v1/portfolios/paper/history?limit=many")[0] == 400
    assert worker.get("/api/v1/portfolios/paper/history?limit=5001")[0] == 400  # bounded: at most 5000
    assert worker.get("/api/v1/portfolios/nyse/history")[0] == 404
    assert worker.get("/api/v1/market/abc/ticks")[0] == 400

    positions = worker.get("/api/v1/portfolios/paper/positions")[1]["positions"]
    assert {p["tradingsymbol"] for p in positions if p["instrument_token"] == token} == {"TCS"}
    orders = worker.get("/api/v1/orders/paper")[1]["orders"]
    assert {o["tradingsymbol"] for o in orders if o["instrument_token"] == token} == {"TCS"}
