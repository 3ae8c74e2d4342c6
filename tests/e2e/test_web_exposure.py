"""Fail closed on the web side: a public bind needs a token, and postbacks nobody can verify are refused.

Real broker and worker processes, talked to through HTTP and Kafka topics only.
"""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request

import pytest


def test_a_public_bind_without_a_token_refuses_to_start_and_with_one_it_serves(cluster, workers):
    exposed = workers("exposed", env={"WEB__BIND": "0.0.0.0"}, wait=False)
    try:
        code = exposed.process.wait(60)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the worker started on 0.0.0.0 without a token:\n{exposed.tail()}") from None
    output = exposed.log_path.read_text(errors="replace")
    assert code != 0 and "WEB__BIND=0.0.0.0 listens beyond this machine, but WEB__API_TOKEN is unset" in output

    worker = workers("guarded", env={"WEB__BIND": "0.0.0.0", "WEB__API_TOKEN": "tok-123",
                                     "WEB__READS_NEED_TOKEN": "true"})
    bearer = {"Authorization": "Bearer tok-123"}
    # Probes stay open; reads and writes need the token.
    assert worker.get("/api/v1/health")[0] in (200, 503)
    with urllib.request.urlopen(worker.url + "/metrics", timeout=10) as metrics:
        assert metrics.status == 200
    assert worker.get("/api/v1/portfolios/paper/summary")[0] == 401
    assert worker.request("GET", "/api/v1/portfolios/paper/summary", headers=bearer)[0] == 200
    assert worker.request("GET", "/api/v1/risk/paper", headers=bearer)[0] == 200
    assert worker.request("POST", "/api/v1/risk/paper/halt")[0] == 401

    # zerodha without ZERODHA__API_SECRET: an unsigned postback (a forged order update) is refused,
    # nothing is published, and the worker said at startup why postbacks are off.
    forged = {"order_id": "240101000000001", "status": "COMPLETE", "filled_quantity": 10, "average_price": 1.0}
    status, body = worker.request("POST", "/api/v1/venues/zerodha/postback", forged)
    assert status == 403 and body["error"].startswith("postbacks are off: ZERODHA__API_SECRET is unset")
    assert cluster.consume("zerodha.orders.updates", expect=1, timeout=2) == []
    log = worker.log_path.read_text(errors="replace")
    assert "zerodha: postbacks are off: ZERODHA__API_SECRET is unset" in log
    # paper takes no postbacks at all.
    assert worker.request("POST", "/api/v1/venues/paper/postback", forged)[0] == 403

    # Guessing is slowed down: after 5 failures within a minute this client waits (429), even
    # with the right token; each failure is logged without the token's value.
    wrong = {"Authorization": "Bearer guess-456"}
    # (The halt above without a token was this client's first failure.)
    assert [worker.request("GET", "/api/v1/orders/paper", headers=wrong)[0] for _ in range(3)] == [401] * 3
    status, body = worker.request("GET", "/api/v1/orders/paper", headers=bearer)
    assert status == 200  # four failures are not yet five; a success clears the record
    codes = [worker.request("PUT", "/api/v1/risk/paper/limits", {"max_order_quantity": 1}, headers=wrong)[0]
             for _ in range(6)]
    assert codes == [401] * 5 + [429]
    request = urllib.request.Request(worker.url + "/api/v1/orders/paper", headers=bearer)
    with pytest.raises(urllib.error.HTTPError) as throttled:
        urllib.request.urlopen(request, timeout=10)
    assert throttled.value.code == 429 and 50 <= int(throttled.value.headers["Retry-After"]) <= 60
    assert len(throttled.value.headers["X-Request-ID"]) == 32  # the guard's answer carries an id too
    log = worker.log_path.read_text(errors="replace")
    assert "authentication failed: PUT /api/v1/risk/paper/limits from 127.0.0.1: a wrong bearer token" in log
    assert "guess-456" not in log and "tok-123" not in log
    assert worker.process.poll() is None
