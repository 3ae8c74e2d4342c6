"""Bad input on every consumed topic: each bad message ends in that topic's DLQ with a reason (or
is recognised as a repeat), the DLQ count equals the bad count, and the good messages around the
bad ones are still processed. One real worker, both brokers active."""

import json
from datetime import datetime, timezone

from tests.support.pipeline import envelope, trading_signal, wait_for

NOW = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
TICK = {"instrument_token": 408065, "last_price": 1500.0, "timestamp": NOW}
SIGNAL = {"strategy_id": "manual", "instrument_token": 408065, "signal_type": "BUY", "quantity": 3,
          "price": 1500.0, "timestamp": NOW}
ORDER = {"order_id": "o-1", "signal_id": "s-1", "strategy_id": "manual", "instrument_token": 408065,
         "side": "BUY", "quantity": 3}

#: topic -> (event type, broker, a valid payload, the numeric field path to corrupt, an enum field path)
CONSUMED = {
    "market.ticks": ("market_tick", None, TICK, ("last_price",), None),
    "paper.signals.raw": ("trading_signal", "paper", SIGNAL, ("quantity",), ("signal_type",)),
    "paper.risk.control": ("risk_command", "paper", {"action": "set_limits", "limits": {"max_order_quantity": 1000}},
                           ("limits", "max_order_quantity"), ("action",)),
    "paper.orders.failed": ("order_failed", "paper", {**ORDER, "reason_code": "VENUE_REJECTED", "reason": "no"},
                            ("quantity",), ("side",)),
    "paper.pnl.snapshots": ("pnl_snapshot", "paper", {"broker": "paper", "positions": [], "realized_pnl": 0.0,
                                                      "unrealized_pnl": 0.0, "total_pnl": 0.0, "fills": 0},
                            ("fills",), None),
    "paper.signals.validated": ("validated_signal", "paper",
                                {"signal": SIGNAL, "risk": {"checks": [], "position_after": 3, "gross_exposure_after": 4500.0}},
                                ("signal", "quantity"), ("signal", "signal_type")),
    "paper.orders.triggers": ("market_tick", "paper", TICK, ("last_price",), None),
    "paper.orders.filled": ("order_filled", "paper", {**ORDER, "fill_id": "f-1", "fill_price": 1500.0, "commission": 1.0},
                            ("fill_price",), ("side",)),
    "zerodha.signals.raw": ("trading_signal", "zerodha", SIGNAL, ("quantity",), ("signal_type",)),
}


def with_value(payload, path, value):
    payload = json.loads(json.dumps(payload))
    target = payload
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return payload


def bad_messages(event_type, broker, payload, numeric, enum):
    def env(data, **overrides):
        raw = json.loads(envelope(event_type, data, broker=broker))
        raw.update(overrides)
        return json.dumps(raw)

    bad = [
        b"this is not json",
        b"[1, 2, 3]",
        env("a string, not an object").encode(),                           # wrong type
        json.dumps({"id": "only-an-id", "type": event_type}).encode(),    # missing fields
        env(with_value(payload, numeric, -5)).encode(),                   # negative
        env(with_value(payload, numeric, "NaN-HERE")).replace('"NaN-HERE"', "NaN").encode(),  # NaN
        env(with_value(payload, numeric, 1e300)).encode(),                # huge
        env(payload, type="no_such_event_type").encode(),                 # unknown enum value
        env({**payload, "metadata": {"padding": "x" * 900_000}}).encode(),  # a 900 KB payload
    ]
    if enum is not None:
        bad.append(env(with_value(payload, enum, "NO_SUCH_VALUE")).encode())
    return bad


def valid_events(cluster, topic, **kwargs):
    """The well-formed events of a topic this test also fills with garbage."""
    out = []
    for message in cluster.consume(topic, **kwargs):
        try:
            event = json.loads(message["value"])
        except ValueError:
            continue
        if isinstance(event, dict) and isinstance(event.get("data"), dict):
            out.append(event)
    return out


def test_every_consumed_topic_dead_letters_bad_input_and_keeps_going(cluster, workers):
    worker = workers(env={"LOG_FORMAT": "json"})
    expected_dlq = {}
    for topic, (event_type, broker, payload, numeric, enum) in CONSUMED.items():
        key = (broker or "408065").encode()
        bad = bad_messages(event_type, broker, payload, numeric, enum)
        expected_dlq[topic] = len(bad)
        cluster.produce(topic, [(key, value) for value in bad])

    # Good messages after the bad ones, and a repeated event id: processed (once), never DLQ'd.
    good = trading_signal("paper", quantity=2, event_id="good-after-bad")
    cluster.produce("paper.signals.raw", [(b"paper", good), (b"paper", good)])
    wait_for(lambda: [f for f in valid_events(cluster, "paper.orders.filled", expect=1, timeout=2)
                      if f["data"].get("signal_id") == "good-after-bad"], timeout=60, message="the good signal's fill")

    for topic, count in expected_dlq.items():
        letters = wait_for(lambda: (lambda got: got if len(got) >= count else None)(
            cluster.events(f"{topic}.dlq", expect=count, timeout=3)), timeout=60, message=f"{count} letters in {topic}.dlq")
        assert len(letters) == count, f"{topic}.dlq has {len(letters)} letters, expected {count}"
        for letter in letters:
            data = letter["data"]
            assert data["original_topic"] == topic and data["error_type"] and data["error"]
            assert data["value"]  # the original bytes are kept

    validated = [v for v in valid_events(cluster, "paper.signals.validated", timeout=2)
                 if v.get("causation_id") == "good-after-bad"]
    assert len(validated) == 1, "the repeated event id was decided twice"
    status, health = worker.get("/api/v1/health")
    assert status == 200 and health["status"] == "ok", "bad input must not degrade a healthy worker"

    # Every log line about a dead-lettered event says which broker, topic and chain it belongs to.
    lines = [json.loads(line) for line in worker.log_path.read_text().splitlines() if line.startswith("{")]
    dead = [line for line in lines if line["message"].startswith("dead-lettered")]
    assert len(dead) >= sum(expected_dlq.values())
    assert all("topic" in line for line in dead)
    assert any(line.get("broker") == "paper" and line["topic"] == "paper.signals.raw" for line in dead)
