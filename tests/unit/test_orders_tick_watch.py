"""The tick watch: which brokers a tick goes to, and the ticks a newly working order missed."""

import json
from datetime import UTC, datetime, timedelta

from alphapanda.execution.tick_watch import TickWatch, after_creation

T0 = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
INFY, TCS = 408065, 2953217


def raw_tick(token: int, seconds: float, price: float = 100.0, event_id: str | None = None) -> tuple[bytes, bytes]:
    at = (T0 + timedelta(seconds=seconds)).isoformat()
    value = json.dumps({
        "id": event_id or f"t-{token}-{seconds}", "type": "market_tick", "timestamp": at,
        "correlation_id": "c", "source": "feed", "version": 1, "broker": None,
        "data": {"instrument_token": token, "last_price": price, "timestamp": at},
    }).encode()
    return str(token).encode(), value


def test_a_tick_nobody_waits_for_goes_nowhere():
    watch = TickWatch()
    assert watch.observe(*raw_tick(INFY, 1)) == ()


def test_a_tick_goes_to_every_broker_with_a_working_order_on_its_instrument():
    watch = TickWatch()
    watch.watch("paper", "o1", INFY, after_creation(T0))
    watch.watch("paper_b", "o2", INFY, after_creation(T0))
    watch.watch("paper", "o3", TCS, after_creation(T0))
    assert sorted(watch.observe(*raw_tick(INFY, 1))) == ["paper", "paper_b"]
    assert watch.observe(*raw_tick(TCS, 1)) == ("paper",)


def test_an_order_that_starts_waiting_gets_the_remembered_ticks_after_its_event_time_in_order():
    watch = TickWatch()
    for seconds in (-1, 0, 1, 2):
        watch.observe(*raw_tick(INFY, seconds))
    watch.observe(*raw_tick(TCS, 1))
    missed = watch.watch("paper", "o1", INFY, after_creation(T0))
    assert [e.data.timestamp for e in missed] == [T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)]


def test_only_the_last_ticks_of_each_instrument_are_remembered():
    watch = TickWatch(history=2)
    for seconds in (1, 2, 3):
        watch.observe(*raw_tick(INFY, seconds))
    assert [e.data.timestamp.second for e in watch.watch("paper", "o1", INFY, after_creation(T0))] == [2, 3]


def test_a_finished_order_stops_its_brokers_ticks_once_no_other_order_waits():
    watch = TickWatch()
    watch.watch("paper", "o1", INFY, after_creation(T0))
    watch.watch("paper", "o2", INFY, after_creation(T0))
    watch.unwatch("paper", "o1")
    assert watch.observe(*raw_tick(INFY, 1)) == ("paper",)
    watch.unwatch("paper", "o2")
    assert watch.observe(*raw_tick(INFY, 2)) == () and len(watch) == 0


def test_sync_makes_the_waiting_orders_exactly_those_given_and_returns_their_missed_ticks_once():
    watch = TickWatch()
    watch.watch("paper", "gone", TCS, after_creation(T0))
    watch.observe(*raw_tick(INFY, 1, event_id="t1"))
    forward = watch.sync("paper", {"a": (INFY, after_creation(T0)), "b": (INFY, after_creation(T0))})
    assert [e.id for e in forward] == ["t1"]
    assert watch.waiting("paper") == {"a": INFY, "b": INFY}
    assert watch.sync("paper", {"a": (INFY, after_creation(T0)), "b": (INFY, after_creation(T0))}) == []


def test_a_tick_without_a_key_is_placed_by_its_instrument():
    watch = TickWatch()
    watch.watch("paper", "o1", INFY, after_creation(T0))
    _, value = raw_tick(INFY, 1)
    assert watch.observe(None, value) == ("paper",)
