"""Risk per broker end to end: limits from the API, halts, restarts and a crash in the middle."""

import json
from datetime import datetime, timedelta, timezone

from tests.support.pipeline import trading_signal, wait_for

T0 = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)


def decisions(cluster, broker, expect):
    """Validated and rejected signals of ``broker``, first occurrence of each id, in signal order."""
    def all_decided():
        found = {}
        for topic, kind in ((f"{broker}.signals.validated", "validated"), (f"{broker}.signals.rejected", "rejected")):
            for e in cluster.events(topic, expect=0, timeout=1.5):
                found.setdefault(e["causation_id"], (kind, e["data"].get("reason_code")))
        return found if len(found) >= expect else None

    return wait_for(all_decided, timeout=90, message=f"{expect} decisions on {broker}")


def test_a_tape_past_the_position_limit_gets_exactly_the_expected_rejections(cluster, workers):
    worker = workers()
    status, body = worker.request("PUT", "/api/v1/risk/paper/limits", {"max_position_quantity": 20})
    assert status == 200 and body["limits"]["max_position_quantity"] == 20
    wait_for(lambda: worker.get("/api/v1/risk/paper")[1]["limits"]["max_position_quantity"] == 20, message="limit applied")

    tape = [trading_signal("paper", quantity=6, event_id=f"pos-{i}", at=T0 + timedelta(seconds=i)) for i in range(5)]
    cluster.produce("paper.signals.raw", [(b"paper", s) for s in tape])
    found = decisions(cluster, "paper", 5)
    assert [found[f"pos-{i}"] for i in range(5)] == [
        ("validated", None), ("validated", None), ("validated", None),
        ("rejected", "MAX_POSITION_EXCEEDED"), ("rejected", "MAX_POSITION_EXCEEDED"),
    ]


def test_halting_one_broker_leaves_the_other_trading_and_the_reverse(cluster, workers):
    worker = workers()
    for halted, trading in (("paper", "zerodha"), ("zerodha", "paper")):
        assert worker.request("POST", f"/api/v1/risk/{halted}/halt")[0] == 200
        wait_for(lambda: worker.get(f"/api/v1/risk/{halted}")[1]["state"] == "HALTED", message=f"{halted} halted")
        cluster.produce(f"{halted}.signals.raw", [(halted.encode(), trading_signal(halted, event_id=f"h-{halted}"))])
        cluster.produce(f"{trading}.signals.raw", [(trading.encode(), trading_signal(trading, event_id=f"t-{trading}"))])
        assert decisions(cluster, halted, 1)[f"h-{halted}"] == ("rejected", "TRADING_HALTED")
        assert decisions(cluster, trading, 1)[f"t-{trading}"] == ("validated", None)
        assert worker.get(f"/api/v1/risk/{trading}")[1]["state"] == "ACTIVE"
        assert worker.request("POST", f"/api/v1/risk/{halted}/resume")[0] == 200
        wait_for(lambda: worker.get(f"/api/v1/risk/{halted}")[1]["state"] == "ACTIVE", message=f"{halted} resumed")


def test_limits_changed_at_runtime_apply_to_the_next_signal_and_survive_a_restart(cluster, workers):
    worker = workers()
    status, body = worker.request("PUT", "/api/v1/risk/paper/limits", {"max_order_quantty": 5})
    assert status == 400 and "max_order_quantty" in json.dumps(body)
    status, body = worker.request("PUT", "/api/v1/risk/paper/limits", {"max_order_quantity": -5})
    assert status == 400 and "max_order_quantity" in json.dumps(body)
    assert worker.request("PUT", "/api/v1/risk/paper/limits", {"max_order_quantity": 5})[0] == 200
    wait_for(lambda: worker.get("/api/v1/risk/paper")[1]["limits"]["max_order_quantity"] == 5, message="limit applied")
    cluster.produce("paper.signals.raw", [(b"paper", trading_signal("paper", quantity=6, event_id="big-1"))])
    assert decisions(cluster, "paper", 1)["big-1"] == ("rejected", "MAX_ORDER_QUANTITY_EXCEEDED")

    assert worker.stop() == 0
    worker.start()
    assert worker.get("/api/v1/risk/paper")[1]["limits"]["max_order_quantity"] == 5
    cluster.produce("paper.signals.raw", [(b"paper", trading_signal("paper", quantity=6, event_id="big-2")),
                                          (b"paper", trading_signal("paper", quantity=5, event_id="ok-2"))])
    found = decisions(cluster, "paper", 3)
    assert found["big-2"] == ("rejected", "MAX_ORDER_QUANTITY_EXCEEDED") and found["ok-2"] == ("validated", None)


def crash_tape():
    """Signals that cross the position and order limits at known points, on two instruments."""
    tape = []
    for i in range(60):
        token = 408065 if i % 2 else 738561
        side = "SELL" if i % 7 == 6 else "BUY"
        quantity = 900 if i % 11 == 10 else 300
        tape.append(trading_signal("paper", token=token, side=side, quantity=quantity, price=100.0 + i % 5,
                                   event_id=f"crash-{i:03d}", at=T0 + timedelta(seconds=2 * i)))
    return tape


def run_tape(cluster, workers, tape, *, kill_after=None):
    worker = workers()
    if kill_after is None:
        cluster.produce("paper.signals.raw", [(b"paper", s) for s in tape])
    else:
        cluster.produce("paper.signals.raw", [(b"paper", s) for s in tape[:kill_after]])
        decisions(cluster, "paper", kill_after // 2)
        worker.kill()
        cluster.produce("paper.signals.raw", [(b"paper", s) for s in tape[kill_after:]])
        worker.start()
    found = decisions(cluster, "paper", len(tape))
    return [found[f"crash-{i:03d}"] for i in range(len(tape))]


def test_the_same_tape_gives_identical_decisions_with_a_sigkill_in_the_middle(tmp_path, workers, cluster):
    from tests.support.pipeline import Cluster, Worker

    tape = crash_tape()
    uninterrupted = run_tape(cluster, workers, tape)
    assert {kind for kind, _ in uninterrupted} == {"validated", "rejected"}

    second = Cluster(tmp_path / "second").start()
    started = []

    def start_second(name="w1", env=None, wait=True):
        w = Worker(second, name=name, env=env or {})
        started.append(w)
        return w.start(wait=wait)

    try:
        crashed = run_tape(second, start_second, tape, kill_after=30)
    finally:
        for w in started:
            w.stop()
        second.stop()
    assert crashed == uninterrupted
