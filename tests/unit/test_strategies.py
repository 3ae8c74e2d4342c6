"""The bundled strategies: pure functions of (tick, state) on event time."""

from __future__ import annotations

import copy
import json
import math
import random
import statistics
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from alphapanda.models import MarketTick, Side, TradingSignal
from alphapanda.strategies import (
    MeanReversionParams,
    MeanReversionStrategy,
    MomentumParams,
    MomentumStrategy,
    SignalIntent,
)

T0 = datetime(2026, 11, 23, 3, 45, tzinfo=timezone.utc)
TOKEN = 408065


def tick(price: float, second: float, token: int = TOKEN) -> MarketTick:
    return MarketTick(instrument_token=token, last_price=price, timestamp=T0 + timedelta(seconds=second))


def run(strategy, prices, state=None, start=0.0, step=1.0):
    """Feed prices one second apart; return (signals per tick, final state)."""
    signals = []
    for i, price in enumerate(prices):
        result = strategy.on_tick(tick(price, start + i * step), state)
        state = result.state
        signals.append(result.signals)
    return signals, state


def sides(signals) -> list[str | None]:
    return [s[0].side.value if s else None for s in signals]


def momentum(**overrides) -> MomentumStrategy:
    params = {"lookback": 3, "threshold": 0.01, "quantity": 5, "cooldown_seconds": 0} | overrides
    return MomentumStrategy("mom", MomentumParams(**params))


def mean_reversion(**overrides) -> MeanReversionStrategy:
    params = {"window": 5, "entry_z": 2.0, "quantity": 7, "cooldown_seconds": 0} | overrides
    return MeanReversionStrategy("mr", MeanReversionParams(**params))


def random_walk(n: int, seed: int, start: float = 1500.0) -> list[float]:
    rng = random.Random(seed)
    prices, price = [], start
    for _ in range(n):
        price = max(1.0, price * math.exp(rng.gauss(0, 0.003)))
        prices.append(round(price, 2))
    return prices


# Momentum -----------------------------------------------------------------------------------

def test_momentum_is_silent_until_the_lookback_window_is_full():
    signals, _ = run(momentum(lookback=3), [100, 150, 200])
    assert sides(signals) == [None, None, None]


def test_momentum_buys_when_the_return_over_lookback_exceeds_the_threshold():
    signals, _ = run(momentum(lookback=3, threshold=0.01), [100, 100, 100, 101.5])
    assert sides(signals) == [None, None, None, "BUY"]


def test_momentum_sells_when_the_return_is_below_minus_the_threshold():
    signals, _ = run(momentum(lookback=3, threshold=0.01), [100, 100, 100, 98.5])
    assert sides(signals) == [None, None, None, "SELL"]


def test_momentum_does_not_signal_inside_the_threshold_band():
    signals, _ = run(momentum(lookback=3, threshold=0.01), [100, 100, 100, 100.9, 99.2, 100.5])
    assert sides(signals) == [None] * 6


def test_momentum_compares_with_the_price_exactly_lookback_ticks_ago():
    # 101.5 is +1.5 % against 100 (three ticks ago) but -49 % against 200 (two ticks ago).
    signals, _ = run(momentum(lookback=3, threshold=0.01), [100, 200, 200, 101.5])
    assert sides(signals)[-1] == "BUY"
    assert signals[-1][0].metadata["reference_price"] == 100


def test_momentum_signal_carries_the_tick_price_quantity_and_a_bounded_confidence():
    signals, _ = run(momentum(lookback=1, threshold=0.01, quantity=5), [100, 103])
    intent = signals[-1][0]
    assert (intent.side, intent.quantity, intent.price) == (Side.BUY, 5, 103)
    assert 0 < intent.confidence <= 1
    assert intent.metadata["return"] == pytest.approx(0.03)


def test_momentum_stays_silent_during_the_cooldown_in_event_seconds():
    strategy = momentum(lookback=1, threshold=0.01, cooldown_seconds=10)
    # A rising price every second: the condition holds on every tick after the first.
    prices = [100 * 1.02**i for i in range(13)]
    signals, _ = run(strategy, prices)
    assert [i for i, s in enumerate(signals) if s] == [1, 11]


def test_momentum_cooldown_counts_event_time_not_ticks():
    strategy = momentum(lookback=1, threshold=0.01, cooldown_seconds=10)
    # Ticks 30 event-seconds apart: every one is past the cooldown of the one before.
    signals, _ = run(strategy, [100, 102, 104.1, 106.2], step=30)
    assert sides(signals) == [None, "BUY", "BUY", "BUY"]


def test_momentum_position_aware_does_not_add_to_its_own_position():
    strategy = momentum(lookback=1, threshold=0.01, position_aware=True)
    signals, state = run(strategy, [100, 102, 104.1, 102, 99.9, 102])
    assert sides(signals) == [None, "BUY", None, "SELL", "SELL", "BUY"]
    assert state["position"] == -5 + 5


def test_momentum_state_keeps_only_lookback_prices():
    _, state = run(momentum(lookback=4), random_walk(1000, seed=1))
    assert len(state["buf"]) == 4
    assert state["n"] == 1000


def test_momentum_restarts_its_window_when_the_lookback_changes():
    _, state = run(momentum(lookback=3), [100, 100, 100])
    signals, state = run(momentum(lookback=2), [103], state=json.loads(json.dumps(state)), start=10)
    assert signals == [[]]
    assert state["n"] == 1 and state["buf"] == [103]


# Mean reversion ----------------------------------------------------------------------------

def test_mean_reversion_is_silent_until_the_window_is_full():
    signals, _ = run(mean_reversion(window=5), [100, 101, 100, 50, 200])
    assert sides(signals) == [None] * 5


def test_mean_reversion_buys_far_below_the_rolling_mean():
    # Window 100,101,100,101,100: mean 100.4, std 0.49; 99 is z = -2.86.
    signals, _ = run(mean_reversion(window=5, entry_z=2.0), [100, 101, 100, 101, 100, 99])
    assert sides(signals)[-1] == "BUY"
    assert signals[-1][0].metadata["z"] == pytest.approx(-2.858, abs=1e-3)


def test_mean_reversion_sells_far_above_the_rolling_mean():
    signals, _ = run(mean_reversion(window=5, entry_z=2.0), [100, 101, 100, 101, 100, 102])
    assert sides(signals)[-1] == "SELL"


def test_mean_reversion_does_not_signal_inside_the_band():
    signals, _ = run(mean_reversion(window=5, entry_z=2.0), [100, 101, 100, 101, 100, 101.2, 99.8])
    assert sides(signals) == [None] * 7


def test_mean_reversion_ignores_a_flat_window():
    # Zero deviation: the z-score is undefined, not infinite.
    signals, _ = run(mean_reversion(window=5), [100] * 5 + [100.05])
    assert sides(signals) == [None] * 6


def test_mean_reversion_running_moments_match_an_exact_computation():
    strategy = mean_reversion(window=7)
    prices = random_walk(2003, seed=3)  # not a multiple of the window: mid-turn of the ring
    _, state = run(strategy, prices)
    window = prices[-7:]
    assert sorted(state["buf"]) == sorted(window)
    assert state["mean"] == pytest.approx(statistics.fmean(window), rel=1e-12)
    assert state["m2"] / 7 == pytest.approx(statistics.pvariance(window), rel=1e-6)


def test_mean_reversion_z_uses_the_previous_window_only():
    prices = [100, 101, 100, 101, 100, 99]
    signals, _ = run(mean_reversion(window=5, entry_z=2.0), prices)
    meta = signals[-1][0].metadata
    assert meta["mean"] == pytest.approx(statistics.fmean(prices[:5]))
    assert meta["std"] == pytest.approx(statistics.pstdev(prices[:5]))


def test_mean_reversion_stays_silent_during_the_cooldown():
    strategy = mean_reversion(window=5, entry_z=2.0, cooldown_seconds=3)
    prices = [100, 101, 100, 101, 100, 95, 90, 85, 80]
    signals, _ = run(strategy, prices)
    assert [i for i, s in enumerate(signals) if s] == [5, 8]


# Behaviour every strategy shares -----------------------------------------------------------

STRATEGIES = [
    pytest.param(lambda: momentum(lookback=5, threshold=0.004, cooldown_seconds=3), id="momentum"),
    pytest.param(lambda: mean_reversion(window=8, entry_z=1.5, cooldown_seconds=3), id="mean_reversion"),
]


def signal_log(signals) -> list[tuple]:
    return [(i, s.side, s.quantity, s.price, s.confidence, s.metadata)
            for i, batch in enumerate(signals) for s in batch]


@pytest.mark.parametrize("make", STRATEGIES)
def test_a_walk_produces_both_buy_and_sell_signals(make):
    signals, _ = run(make(), random_walk(600, seed=11))
    assert {s.side for batch in signals for s in batch} == {Side.BUY, Side.SELL}


@pytest.mark.parametrize("make", STRATEGIES)
def test_duplicate_and_out_of_order_ticks_change_nothing(make):
    strategy = make()
    _, state = run(strategy, random_walk(50, seed=5))
    before = copy.deepcopy(state)
    for second in (49, 30, 0):  # the last tick again, then older ones
        result = strategy.on_tick(tick(1.0, second), state)
        assert result.signals == []
        assert result.state == before


@pytest.mark.parametrize("make", STRATEGIES)
def test_state_survives_json_on_every_tick(make):
    prices = random_walk(400, seed=7)
    direct, direct_state = run(make(), prices)

    strategy, state, through_json = make(), None, []
    for i, price in enumerate(prices):
        result = strategy.on_tick(tick(price, i), state)
        through_json.append(result.signals)
        state = json.loads(json.dumps(result.state, allow_nan=False))

    assert signal_log(through_json) == signal_log(direct)
    assert state == direct_state


@pytest.mark.parametrize("make", STRATEGIES)
def test_a_restart_from_stored_state_continues_the_same_window(make):
    prices = random_walk(300, seed=9)
    uninterrupted, _ = run(make(), prices)

    first, stored = run(make(), prices[:137])
    # A new process: new strategy instance, state read back from the changelog.
    second, _ = run(make(), prices[137:], state=json.loads(json.dumps(stored)), start=137)

    assert signal_log(first + second) == signal_log(uninterrupted)


@pytest.mark.parametrize("make", STRATEGIES)
def test_the_same_ticks_give_the_same_signals(make):
    prices = random_walk(300, seed=13)
    assert signal_log(run(make(), prices)[0]) == signal_log(run(make(), prices)[0])


@pytest.mark.parametrize("make", STRATEGIES)
def test_signals_become_valid_trading_signals(make):
    strategy = make()
    signals, _ = run(strategy, random_walk(300, seed=11))
    intents = [s for batch in signals for s in batch]
    assert intents
    for intent in intents:
        signal = intent.to_trading_signal(strategy.id, TOKEN, T0)
        assert isinstance(signal, TradingSignal)
        assert signal.signal_type is intent.side and signal.price == intent.price
        json.dumps(signal.model_dump(mode="json"), allow_nan=False)


def test_signal_intent_is_immutable():
    intent = SignalIntent(side=Side.BUY, quantity=1, price=100.0)
    with pytest.raises(AttributeError):
        intent.quantity = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    "make_params",
    [
        lambda: MomentumParams(lookback=0, threshold=0.01, quantity=1),
        lambda: MomentumParams(lookback=3, threshold=0, quantity=1),
        lambda: MomentumParams(lookback=3, threshold=0.01, quantity=0),
        lambda: MomentumParams(lookback=3, threshold=0.01, quantity=1, cooldown_seconds=-1),
        lambda: MomentumParams(lookback=3, threshold=0.01, quantity=1, unknown=1),
        lambda: MeanReversionParams(window=1, entry_z=2, quantity=1),
        lambda: MeanReversionParams(window=5, entry_z=float("nan"), quantity=1),
    ],
)
def test_params_out_of_range_are_rejected(make_params):
    with pytest.raises(ValidationError):
        make_params()


def test_a_strategy_refuses_the_params_of_another_kind():
    with pytest.raises(TypeError):
        MomentumStrategy("x", MeanReversionParams(window=5, entry_z=2, quantity=1))


@pytest.mark.parametrize("make", STRATEGIES)
def test_an_explicit_initial_state_is_the_same_as_none(make):
    prices = random_walk(100, seed=17)
    strategy = make()
    from_none, state_a = run(strategy, prices)
    from_initial, state_b = run(strategy, prices, state=strategy.initial_state())
    assert signal_log(from_initial) == signal_log(from_none) and state_a == state_b
