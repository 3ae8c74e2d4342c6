"""The simulated market: reproducible GBM ticks on event time."""

from __future__ import annotations

import itertools
import math
import statistics
from datetime import datetime, timedelta, timezone

import pytest

from alphapanda.market.simulated import SimInstrument, SimulatedMarket, default_instruments
from alphapanda.models import MarketTick

# 09:15 IST on a Monday.
START = datetime(2026, 11, 23, 3, 45, tzinfo=timezone.utc)


def take(market: SimulatedMarket, n: int, rate: float = 50.0, start: datetime = START) -> list[MarketTick]:
    return list(itertools.islice(market.ticks(start, rate), n))


def stock(token: int = 1, price: float = 1000.0, **kwargs) -> SimInstrument:
    return SimInstrument(token, f"S{token}", price, **kwargs)


def test_the_same_seed_gives_identical_ticks():
    first = take(SimulatedMarket(default_instruments(), seed=42), 500)
    second = take(SimulatedMarket(default_instruments(), seed=42), 500)
    assert [t.model_dump_json() for t in first] == [t.model_dump_json() for t in second]


def test_another_seed_gives_other_prices():
    first = take(SimulatedMarket(default_instruments(), seed=1), 200)
    second = take(SimulatedMarket(default_instruments(), seed=2), 200)
    assert [t.last_price for t in first] != [t.last_price for t in second]


def test_round_robin_cycles_through_the_instruments():
    instruments = default_instruments()
    ticks = take(SimulatedMarket(instruments, seed=0), 2 * len(instruments))
    tokens = [i.instrument_token for i in instruments]
    assert [t.instrument_token for t in ticks] == tokens * 2


def test_random_order_visits_every_instrument_reproducibly():
    instruments = default_instruments()
    first = take(SimulatedMarket(instruments, seed=3, order="random"), 300)
    second = take(SimulatedMarket(instruments, seed=3, order="random"), 300)
    assert [t.instrument_token for t in first] == [t.instrument_token for t in second]
    assert {t.instrument_token for t in first} == {i.instrument_token for i in instruments}
    assert [t.instrument_token for t in first[:12]] != [i.instrument_token for i in instruments] * 2


def test_ticks_step_event_time_by_one_over_the_rate():
    ticks = take(SimulatedMarket([stock()], seed=0), 5, rate=4.0)
    assert [t.timestamp for t in ticks] == [START + timedelta(seconds=0.25 * i) for i in range(5)]
    assert all(t.timestamp.utcoffset() == timedelta(0) for t in ticks)


def test_the_first_tick_is_at_the_start_price():
    [first] = take(SimulatedMarket([stock(price=1234.5)], seed=9), 1)
    assert first.last_price == 1234.5


def test_prices_are_multiples_of_the_tick_size():
    ticks = take(SimulatedMarket([stock(price=1500.0, volatility=0.8)], seed=5), 2000, rate=2.0)
    for t in ticks:
        assert round(t.last_price / 0.05, 6) == pytest.approx(round(t.last_price / 0.05), abs=1e-6)
        assert t.last_price == round(t.last_price, 2)
    assert len({t.last_price for t in ticks}) > 20  # the price moves


def test_log_returns_follow_the_configured_volatility():
    # 4000 one-hour steps of a 30 % a year instrument (annualised over 252 sessions of 6.25 h).
    market = SimulatedMarket([stock(price=10_000.0, volatility=0.3)], seed=21, depth=False)
    prices = [t.last_price for t in take(market, 4000, rate=1 / 3600)]
    returns = [math.log(b / a) for a, b in zip(prices, prices[1:])]
    per_year = math.sqrt(252 * 6.25) * statistics.pstdev(returns)
    assert per_year == pytest.approx(0.3, rel=0.05)


def test_no_elapsed_event_time_means_no_price_move():
    market = SimulatedMarket([stock(volatility=1.0)], seed=4)
    prices = [market.next_tick(START).last_price for _ in range(20)]
    assert set(prices) == {1000.0}


def test_day_volume_accumulates_the_traded_quantities():
    ticks = take(SimulatedMarket([stock()], seed=6), 100)
    assert all(t.last_quantity >= 1 for t in ticks)
    assert [t.volume for t in ticks] == list(itertools.accumulate(t.last_quantity for t in ticks))


def test_average_price_is_the_volume_weighted_price():
    ticks = take(SimulatedMarket([stock(volatility=0.5)], seed=8), 200, rate=1.0)
    vwap = sum(t.last_price * t.last_quantity for t in ticks) / sum(t.last_quantity for t in ticks)
    assert ticks[-1].average_price == pytest.approx(vwap, abs=0.01)


def test_ohlc_tracks_the_session_with_the_previous_close():
    ticks = take(SimulatedMarket([stock(price=1000.0, volatility=0.5)], seed=10), 300, rate=1.0)
    last = ticks[-1].ohlc
    assert last.open == ticks[0].last_price
    assert last.high == max(t.last_price for t in ticks)
    assert last.low == min(t.last_price for t in ticks)
    assert last.close == 1000.0


def test_a_new_ist_day_starts_a_new_session():
    market = SimulatedMarket([stock(volatility=0.5)], seed=12)
    day_one = [market.next_tick(START + timedelta(minutes=i)) for i in range(50)]
    next_day = market.next_tick(START + timedelta(days=1))
    assert next_day.volume == next_day.last_quantity
    assert next_day.ohlc.close == day_one[-1].last_price
    assert next_day.ohlc.open == next_day.ohlc.high == next_day.ohlc.low == next_day.last_price


def test_depth_has_five_levels_around_the_price():
    [t] = take(SimulatedMarket([stock(price=1500.0)], seed=1), 1)
    assert len(t.depth.buy) == len(t.depth.sell) == 5
    assert [lvl.price for lvl in t.depth.buy] == [1499.95, 1499.9, 1499.85, 1499.8, 1499.75]
    assert [lvl.price for lvl in t.depth.sell] == [1500.05, 1500.1, 1500.15, 1500.2, 1500.25]
    assert all(lvl.quantity >= 1 and lvl.orders >= 1 for lvl in t.depth.buy + t.depth.sell)


def test_depth_can_be_turned_off():
    [t] = take(SimulatedMarket([stock()], seed=1, depth=False), 1)
    assert t.depth is None and t.volume is not None


def test_an_index_has_no_volume_or_depth():
    [t] = take(SimulatedMarket([stock(is_index=True)], seed=1), 1)
    assert (t.volume, t.last_quantity, t.average_price, t.depth) == (None, None, None, None)
    assert t.ohlc is not None


def test_default_instruments_cover_the_example_tokens_at_plausible_prices():
    by_token = {i.instrument_token: i for i in default_instruments()}
    assert {256265, 408065, 738561, 2953217} <= set(by_token)
    assert by_token[256265].is_index and 15_000 < by_token[256265].start_price < 40_000
    assert 500 < by_token[408065].start_price < 5000


def test_ticks_are_valid_wire_payloads():
    for t in take(SimulatedMarket(default_instruments(), seed=2), 60):
        assert MarketTick.model_validate_json(t.model_dump_json()) == t


def test_naive_event_times_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        SimulatedMarket([stock()], seed=0).next_tick(datetime(2026, 11, 23, 9, 15))


@pytest.mark.parametrize("rate", [0, -1, float("inf")])
def test_a_rate_must_be_positive_and_finite(rate):
    with pytest.raises(ValueError):
        next(SimulatedMarket([stock()], seed=0).ticks(START, rate))


def test_duplicate_tokens_are_refused():
    with pytest.raises(ValueError, match="unique"):
        SimulatedMarket([stock(1), stock(1)], seed=0)


@pytest.mark.parametrize("kwargs", [{"price": 0}, {"price": float("nan")}, {"volatility": -0.1}, {"tick_size": 0}])
def test_an_instrument_needs_sane_parameters(kwargs):
    with pytest.raises(ValueError):
        stock(**kwargs)
