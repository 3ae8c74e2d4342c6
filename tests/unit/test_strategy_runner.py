"""Strategies over ticks, with fan-out of each signal to the brokers the strategy trades on."""

from datetime import datetime, timedelta, timezone

from alphapanda.market.publisher import tick_envelope
from alphapanda.models import MarketTick
from alphapanda.strategies.book import StrategyBook
from alphapanda.strategies.config import parse_strategy
from alphapanda.strategy_runner import StrategyRunner, signal_event_id

EVERY_MOVE = """
id: {id}
kind: momentum
params: {{lookback: 1, threshold: 0.0001, quantity: 3, cooldown_seconds: 0}}
instruments: [408065]
brokers: [paper, zerodha]
live_trading: {live}
"""

START = datetime(2026, 11, 21, 4, 0, tzinfo=timezone.utc)


def runner(*, live=False, active=("paper", "zerodha"), states=None):
    config = parse_strategy(EVERY_MOVE.format(id="mom", live=str(live).lower()), "mom.yaml")
    return StrategyRunner(book=StrategyBook.from_configs([config]), active_brokers=active,
                          live_brokers={"zerodha"}, states={} if states is None else states)


def ticks(prices, token=408065):
    return [tick_envelope(MarketTick(instrument_token=token, last_price=p, timestamp=START + timedelta(seconds=i)),
                          source="test", event_id=f"tick-{i}") for i, p in enumerate(prices)]


def run(r, events):
    dirty, out = {}, []
    for e in events:
        out.extend(r.on_tick(e, dirty))
    return out, dirty


def test_a_rising_price_makes_a_buy_signal_caused_by_its_tick():
    out, _ = run(runner(live=True), ticks([100.0, 101.0]))
    paper = [o for o in out if o.topic == "paper.signals.raw"]
    assert len(paper) == 1
    event = paper[0].event
    assert event.data.signal_type == "BUY" and event.data.quantity == 3 and event.data.price == 101.0
    assert event.causation_id == "tick-1" and event.correlation_id == "tick-1" and event.broker == "paper"
    assert paper[0].key == "paper"


def test_each_broker_gets_its_own_copy_with_the_same_correlation():
    out, _ = run(runner(live=True), ticks([100.0, 101.0]))
    assert sorted(o.topic for o in out) == ["paper.signals.raw", "zerodha.signals.raw"]
    assert len({o.event.correlation_id for o in out}) == 1 and len({o.event.id for o in out}) == 2
    assert {o.event.broker for o in out} == {"paper", "zerodha"}


def test_a_live_broker_gets_signals_only_when_the_strategy_allows_live_trading():
    out, _ = run(runner(live=False), ticks([100.0, 101.0]))
    assert [o.topic for o in out] == ["paper.signals.raw"]


def test_inactive_brokers_get_nothing():
    out, _ = run(runner(live=True, active=("paper",)), ticks([100.0, 101.0]))
    assert [o.topic for o in out] == ["paper.signals.raw"]


def test_signal_ids_are_deterministic_so_a_redelivered_tick_is_recognised_downstream():
    first, _ = run(runner(live=True), ticks([100.0, 101.0]))
    second, _ = run(runner(live=True), ticks([100.0, 101.0]))
    assert [o.event.id for o in first] == [o.event.id for o in second]
    assert first[0].event.id == signal_event_id("tick-1", "mom", first[0].event.broker)


def test_ticks_of_instruments_without_strategies_cost_nothing():
    out, dirty = run(runner(), ticks([100.0, 101.0], token=999))
    assert out == [] and dirty == {}


def test_changed_state_is_collected_per_instrument_and_the_store_is_untouched_until_written():
    states = {}
    r = runner(states=states)
    _, dirty = run(r, ticks([100.0, 101.0, 102.0]))
    assert list(dirty) == ["408065"] and "mom" in dirty["408065"]
    assert states == {}


def test_a_restart_from_stored_state_continues_the_same_window():
    uninterrupted, _ = run(runner(live=True), ticks([100.0, 100.5, 99.0, 99.5]))
    states = {}
    first = runner(live=True, states=states)
    out1, dirty = run(first, ticks([100.0, 100.5, 99.0, 99.5])[:2])
    states.update(dirty)
    out2, _ = run(runner(live=True, states=states), ticks([100.0, 100.5, 99.0, 99.5])[2:])
    assert [o.event.id for o in out1 + out2] == [o.event.id for o in uninterrupted]
