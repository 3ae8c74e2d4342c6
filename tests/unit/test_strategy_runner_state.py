"""The strategy runner's working state: loaded once per instrument, never stored in place, replay-safe."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from alphapanda.market.publisher import tick_envelope
from alphapanda.models import MarketTick
from alphapanda.strategies.book import StrategyBook
from alphapanda.strategies.config import StrategyConfig
from alphapanda.strategy_runner import StrategyRunner

T0 = datetime(2026, 11, 23, 3, 45, tzinfo=timezone.utc)
TOKEN = 408065


def book(*brokers: str, live_trading: bool = False) -> StrategyBook:
    return StrategyBook.from_configs([StrategyConfig(
        id="mom", kind="momentum", params={"lookback": 1, "threshold": 0.01, "quantity": 2},
        instruments=[TOKEN], brokers=list(brokers or ["paper"]), live_trading=live_trading,
    )])


def ticks(*prices: float, token: int = TOKEN, start: int = 0):
    return [
        tick_envelope(MarketTick(instrument_token=token, last_price=p, timestamp=T0 + timedelta(seconds=start + i)),
                      source="test", event_id=f"t{start + i}")
        for i, p in enumerate(prices)
    ]


class Store(dict):
    """A table stand-in that counts lookups."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.lookups = 0

    def get(self, key, default=None):
        self.lookups += 1
        return super().get(key, default)


def run(runner: StrategyRunner, events) -> list:
    return [emit for event in events for emit in runner.on_tick(event)]


def test_the_stored_state_is_read_once_per_instrument_and_never_changed_in_place():
    stored = Store()
    first = StrategyRunner(book(), active_brokers=["paper"], live_brokers=[])
    run(first, ticks(100.0, 100.5))
    stored[str(TOKEN)] = first.snapshot(str(TOKEN))
    before = json.dumps(stored[str(TOKEN)])

    runner = StrategyRunner(book(), active_brokers=["paper"], live_brokers=[], states=stored)
    run(runner, ticks(101.0, 101.5, 103.0, start=2))
    assert stored.lookups == 1
    assert json.dumps(stored[str(TOKEN)]) == before
    assert runner.working_state(str(TOKEN))["mom"]["n"] == 5


def test_a_snapshot_does_not_follow_later_ticks():
    runner = StrategyRunner(book(), active_brokers=["paper"], live_brokers=[])
    run(runner, ticks(100.0))
    snapshot = runner.snapshot(str(TOKEN))
    run(runner, ticks(100.2, 100.4, start=1))
    assert snapshot["mom"]["n"] == 1 and runner.working_state(str(TOKEN))["mom"]["n"] == 3


def test_forget_drops_the_working_state_so_the_next_tick_reloads_it():
    stored = Store()
    runner = StrategyRunner(book(), active_brokers=["paper"], live_brokers=[], states=stored)
    run(runner, ticks(100.0))
    runner.forget()
    assert runner.working_state(str(TOKEN)) is None
    run(runner, ticks(100.1, start=1))
    assert stored.lookups == 2


def test_replaying_ticks_from_a_checkpoint_gives_the_signals_and_state_of_an_uninterrupted_run():
    # What the agent's checkpoints rely on: ticks after the checkpoint are delivered again, and
    # the ones the restored state already covers change nothing.
    prices = [100.0, 102.0, 100.0, 100.2, 97.0, 97.1, 99.5, 99.4]
    events = ticks(*prices)
    straight = StrategyRunner(book(), active_brokers=["paper"], live_brokers=[])
    expected = [e.event.id for e in run(straight, events)]

    crashed = StrategyRunner(book(), active_brokers=["paper"], live_brokers=[])
    before_crash = [e.event.id for e in run(crashed, events[:3])]
    checkpoint = {str(TOKEN): crashed.snapshot(str(TOKEN))}
    run(crashed, events[3:6])  # processed, then lost with the process
    restarted = StrategyRunner(book(), active_brokers=["paper"], live_brokers=[], states=checkpoint)
    redelivered = events[1:]  # the committed offset may lag the checkpoint
    after = [e.event.id for e in run(restarted, redelivered)]

    assert before_crash + after == expected
    assert restarted.working_state(str(TOKEN)) == straight.working_state(str(TOKEN))


def test_ticks_of_instruments_no_strategy_trades_cost_nothing_and_keep_no_state():
    runner = StrategyRunner(book(), active_brokers=["paper"], live_brokers=[])
    assert run(runner, ticks(100.0, 150.0, token=999)) == []
    assert runner.working_state("999") is None
