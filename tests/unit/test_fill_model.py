"""The paper fill model: price, slippage, limits, liquidity, latency, fees and fill ids."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alphapanda.execution.paper.commissions import NoCommission, ZerodhaEquityCommission
from alphapanda.execution.paper.fill_model import FillModel
from alphapanda.execution.venue import Fill, OrderRequest, WorkingOrder
from alphapanda.models import Depth, DepthLevel, MarketTick, OrderType, Side

T0 = datetime(2026, 11, 21, 9, 15, tzinfo=UTC)
TOKEN = 738561
FREE = NoCommission()
ZERODHA = ZerodhaEquityCommission("MIS")


def order(
    side: Side = Side.BUY,
    quantity: int = 100,
    *,
    order_type: OrderType = OrderType.MARKET,
    limit: float | None = None,
    reference: float = 100.0,
    created_at: datetime = T0,
    order_id: str = "o1",
    filled: int = 0,
) -> WorkingOrder:
    request = OrderRequest(
        order_id=order_id,
        broker="paper",
        account_id="paper",
        signal_id="s1",
        strategy_id="momentum",
        instrument_token=TOKEN,
        side=side,
        quantity=quantity,
        order_type=order_type,
        limit_price=limit,
        reference_price=reference,
        created_at=created_at,
    )
    return WorkingOrder(request, filled_quantity=filled)


def tick(
    price: float,
    *,
    at: datetime = T0,
    last_quantity: int | None = None,
    depth: Depth | None = None,
    token: int = TOKEN,
) -> MarketTick:
    return MarketTick(
        instrument_token=token, last_price=price, timestamp=at, last_quantity=last_quantity, depth=depth
    )


def levels(*pairs: tuple[float, int]) -> list[DepthLevel]:
    return [DepthLevel(price=p, quantity=q) for p, q in pairs]


def only(fills: list[Fill]) -> Fill:
    assert len(fills) == 1, fills
    return fills[0]


def run(model: FillModel, working: WorkingOrder, ticks: list[MarketTick]) -> list[Fill]:
    """Feed ticks in order, keeping filled_quantity as the caller does."""
    fills: list[Fill] = []
    for t in ticks:
        for f in model.match(working, t):
            fills.append(f)
            working = WorkingOrder(working.request, working.filled_quantity + f.quantity)
    return fills


# price and slippage


def test_a_market_buy_pays_slippage_above_the_market_price():
    fill = only(FillModel(10, FREE).match(order(Side.BUY), tick(1000.0)))
    assert fill.price == 1001.0
    assert fill.quantity == 100


def test_a_market_sell_receives_slippage_below_the_market_price():
    assert only(FillModel(10, FREE).match(order(Side.SELL), tick(1000.0))).price == 999.0


def test_prices_round_to_the_tick_against_the_trader():
    model = FillModel(5, FREE)
    # 101.23 * 1.0005 = 101.2806 -> up to 101.30; 101.23 * 0.9995 = 101.1794 -> down to 101.15
    assert only(model.match(order(Side.BUY), tick(101.23))).price == 101.30
    assert only(model.match(order(Side.SELL), tick(101.23))).price == 101.15


def test_a_price_on_the_grid_stays_put_without_slippage():
    assert only(FillModel(0, FREE).match(order(Side.BUY), tick(100.05))).price == 100.05
    assert only(FillModel(0, FREE).match(order(Side.SELL), tick(100.05))).price == 100.05


def test_the_instruments_own_tick_size_is_used_when_given():
    fill = only(FillModel(5, FREE).match(order(Side.BUY), tick(101.23), tick_size=0.01))
    assert fill.price == 101.29  # 101.2806 up to the next paisa


def test_a_market_order_fills_at_the_latest_tick_not_the_signals_reference_price():
    fill = only(FillModel(0, FREE).match(order(Side.BUY, reference=100.0), tick(110.0)))
    assert fill.price == 110.0


# limit orders


def test_a_limit_buy_rests_while_the_market_is_above_its_limit():
    assert FillModel(0, FREE).match(order(order_type=OrderType.LIMIT, limit=100.0), tick(100.05)) == []


def test_a_limit_buy_fills_when_crossed_never_above_its_limit():
    # 100 * 1.001 = 100.10 would be worse than the limit: the limit caps it
    fill = only(FillModel(10, FREE).match(order(order_type=OrderType.LIMIT, limit=100.0), tick(100.0)))
    assert fill.price == 100.0


def test_a_limit_buy_gets_the_better_market_price_with_slippage():
    fill = only(FillModel(10, FREE).match(order(order_type=OrderType.LIMIT, limit=100.0), tick(98.0)))
    assert fill.price == pytest.approx(98.1)  # 98 * 1.001 = 98.098 -> 98.10


def test_a_limit_sell_rests_below_its_limit_and_fills_at_or_above_it():
    model = FillModel(10, FREE)
    sell = order(Side.SELL, order_type=OrderType.LIMIT, limit=100.0)
    assert model.match(sell, tick(99.95)) == []
    assert only(model.match(sell, tick(100.0))).price == 100.0
    assert only(model.match(sell, tick(102.0))).price == pytest.approx(101.85)  # 101.898 down


def test_a_resting_limit_fills_on_the_first_crossing_tick():
    fills = run(FillModel(0, FREE), order(order_type=OrderType.LIMIT, limit=100.0),
                [tick(101.0), tick(100.5), tick(99.5), tick(98.0)])
    assert [(f.price, f.quantity) for f in fills] == [(99.5, 100)]


# liquidity and partial fills


def test_last_quantity_limits_a_fill_and_the_rest_fills_on_later_ticks():
    ticks = [tick(100.0, at=T0 + timedelta(seconds=i), last_quantity=30) for i in range(6)]
    fills = run(FillModel(0, FREE), order(quantity=100), ticks)
    assert [f.quantity for f in fills] == [30, 30, 30, 10]
    assert sum(f.quantity for f in fills) == 100


def test_a_filled_order_gets_no_more_fills():
    assert FillModel(0, FREE).match(order(quantity=100, filled=100), tick(100.0)) == []


def test_depth_offers_the_opposite_side_at_acceptable_prices():
    depth = Depth(buy=levels((99.0, 500)), sell=levels((99.5, 10), (100.0, 20), (100.5, 50)))
    limit = order(order_type=OrderType.LIMIT, limit=100.0)
    assert only(FillModel(0, FREE).match(limit, tick(99.5, depth=depth))).quantity == 30
    assert only(FillModel(0, FREE).match(order(), tick(99.5, depth=depth))).quantity == 80


def test_a_sell_takes_bids_at_or_above_its_limit():
    depth = Depth(buy=levels((100.0, 15), (99.5, 40)), sell=levels((100.5, 500)))
    sell = order(Side.SELL, order_type=OrderType.LIMIT, limit=100.0)
    assert only(FillModel(0, FREE).match(sell, tick(100.0, depth=depth))).quantity == 15


def test_depth_takes_precedence_over_last_quantity():
    depth = Depth(sell=levels((100.0, 7)))
    assert only(FillModel(0, FREE).match(order(), tick(100.0, depth=depth, last_quantity=60))).quantity == 7


def test_a_book_side_with_no_priced_quantity_offers_nothing():
    empty = Depth(buy=levels((99.0, 100)), sell=levels((0.0, 0), (0.0, 0)))
    assert FillModel(0, FREE).match(order(), tick(100.0, depth=empty, last_quantity=60)) == []


def test_a_missing_book_side_falls_back_to_last_quantity():
    bids_only = Depth(buy=levels((99.0, 100)))
    fill = only(FillModel(0, FREE).match(order(), tick(100.0, depth=bids_only, last_quantity=60)))
    assert fill.quantity == 60


def test_a_tick_without_size_information_fills_the_whole_remainder():
    assert only(FillModel(0, FREE).match(order(quantity=5000), tick(100.0))).quantity == 5000


def test_liquidity_fraction_takes_a_share_of_what_is_offered():
    model = FillModel(0, FREE, liquidity_fraction=0.5)
    assert only(model.match(order(), tick(100.0, last_quantity=31))).quantity == 15
    assert only(model.match(order(), tick(100.0, last_quantity=1))).quantity == 1


@given(st.integers(1, 500), st.lists(st.integers(0, 120), max_size=30))
def test_partial_fills_never_exceed_the_order_and_complete_it_when_liquidity_allows(quantity, sizes):
    ticks = [tick(100.0, at=T0 + timedelta(seconds=i), last_quantity=q or None) if q else
             tick(100.0, at=T0 + timedelta(seconds=i), depth=Depth(sell=levels((100.0, 0))))
             for i, q in enumerate(sizes)]
    fills = run(FillModel(5, FREE), order(quantity=quantity), ticks)
    total = sum(f.quantity for f in fills)
    assert total == min(quantity, sum(sizes))
    assert all(f.quantity > 0 for f in fills)
    assert len({f.fill_id for f in fills}) == len(fills)


# latency and event time


def test_latency_defers_a_fill_to_the_first_tick_at_or_after_it():
    model = FillModel(0, FREE, latency_ms=250)
    assert model.match(order(), tick(100.0, at=T0 + timedelta(milliseconds=249))) == []
    fill = only(model.match(order(), tick(101.0, at=T0 + timedelta(milliseconds=250))))
    assert (fill.price, fill.timestamp) == (101.0, T0 + timedelta(milliseconds=250))


def test_a_tick_older_than_the_order_gives_no_fill():
    assert FillModel(0, FREE).match(order(), tick(100.0, at=T0 - timedelta(microseconds=1))) == []


def test_a_fill_is_stamped_with_the_ticks_event_time():
    at = T0 + timedelta(seconds=3)
    assert only(FillModel(0, FREE).match(order(), tick(100.0, at=at))).timestamp == at


# ids and determinism


def test_fill_ids_are_the_order_id_and_its_cumulative_filled_quantity():
    ticks = [tick(100.0, at=T0 + timedelta(seconds=i), last_quantity=40) for i in range(3)]
    assert [f.fill_id for f in run(FillModel(0, FREE), order(order_id="abc"), ticks)] == [
        "abc-40", "abc-80", "abc-100"]


def test_the_same_inputs_give_identical_fills_whatever_else_was_processed():
    model = FillModel(7, ZERODHA, latency_ms=100, liquidity_fraction=0.7)
    ticks = [tick(100.0 + i, at=T0 + timedelta(milliseconds=60 * i), last_quantity=25) for i in range(8)]
    first = run(model, order(order_id="a"), ticks)
    run(model, order(Side.SELL, order_id="b"), ticks)
    again = run(FillModel(7, ZERODHA, latency_ms=100, liquidity_fraction=0.7), order(order_id="a"), ticks)
    assert first == again
    assert first


# commissions


def test_each_fill_carries_the_commission_of_the_model():
    fill = only(FillModel(0, ZERODHA).match(order(Side.BUY, 100), tick(1000.0)))
    assert fill.commission == 30.22  # see test_commissions: MIS buy of 1,00,000


def test_partial_fills_pay_the_per_order_brokerage_cap_once():
    ticks = [tick(1000.0, at=T0 + timedelta(seconds=i), last_quantity=40) for i in range(3)]
    fills = run(FillModel(0, ZERODHA), order(Side.BUY, 100), ticks)
    assert [f.quantity for f in fills] == [40, 40, 20]
    assert sum(f.commission for f in fills) == pytest.approx(30.22)  # not 3 x Rs 20 brokerage


def test_no_commission_model_fills_for_free():
    assert only(FillModel(10, FREE).match(order(), tick(1000.0))).commission == 0.0


# misuse


def test_a_tick_of_another_instrument_is_a_caller_bug():
    with pytest.raises(ValueError, match="instrument"):
        FillModel(0, FREE).match(order(), tick(100.0, token=TOKEN + 1))


@pytest.mark.parametrize("kwargs", [
    {"slippage_bps": -1}, {"latency_ms": -1}, {"liquidity_fraction": 0}, {"liquidity_fraction": 1.5},
    {"tick_size": 0},
])
def test_nonsense_parameters_are_refused(kwargs):
    args = {"slippage_bps": 5, "commission": FREE} | kwargs
    with pytest.raises(ValueError):
        FillModel(**args)
