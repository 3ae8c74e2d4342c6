"""The paper venue: validation, placement against the latest known price, working orders, idempotency."""

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from alphapanda.execution.paper import (
    FillModel,
    NoCommission,
    PaperVenue,
    ZerodhaEquityCommission,
    paper_venue_from_settings,
)
from alphapanda.execution.venue import Failed, Fill, OrderRequest, Submitted, Venue, WorkingOrder
from alphapanda.models import MarketTick, OrderType, Side
from alphapanda.settings import Settings

T0 = datetime(2026, 11, 21, 9, 15, tzinfo=UTC)
TOKEN = 408065


def request(**changes) -> OrderRequest:
    base = OrderRequest(
        order_id="ord-1",
        broker="paper",
        account_id="paper",
        signal_id="sig-1",
        strategy_id="mean_reversion",
        instrument_token=TOKEN,
        side=Side.BUY,
        quantity=10,
        order_type=OrderType.MARKET,
        limit_price=None,
        reference_price=1500.0,
        created_at=T0,
    )
    return dataclasses.replace(base, **changes)


def tick(
    price: float, *, at: datetime = T0, token: int = TOKEN, last_quantity: int | None = None
) -> MarketTick:
    return MarketTick(instrument_token=token, last_price=price, timestamp=at, last_quantity=last_quantity)


def venue(slippage_bps: float = 0, **kwargs) -> PaperVenue:
    return PaperVenue(FillModel(slippage_bps, NoCommission(), **kwargs))


def fills(events) -> list[Fill]:
    return [e for e in events if isinstance(e, Fill)]


def test_it_is_a_venue_that_moves_no_money():
    v = venue()
    assert isinstance(v, Venue)
    assert v.live is False
    assert v.broker == "paper"
    assert v.health()["status"] == "ok"


async def test_a_market_order_is_submitted_and_filled_at_the_latest_tick():
    events = await venue(10).place(request(), tick(1600.0))
    assert events[0] == Submitted(order_id="ord-1")
    (fill,) = fills(events)
    assert (fill.quantity, fill.price, fill.fill_id) == (10, 1601.6, "ord-1-10")


async def test_without_a_market_tick_a_market_order_fills_at_its_reference_price():
    (fill,) = fills(await venue(10).place(request(), None))
    assert fill.price == 1501.5
    assert fill.timestamp == T0


async def test_a_tick_older_than_the_signal_yields_to_the_reference_price():
    (fill,) = fills(await venue().place(request(), tick(1400.0, at=T0 - timedelta(seconds=1))))
    assert fill.price == 1500.0


async def test_with_latency_placement_only_submits_and_a_later_tick_fills():
    v = venue(latency_ms=200)
    assert await v.place(request(), tick(1500.0)) == [Submitted(order_id="ord-1")]
    working = WorkingOrder(request())
    assert await v.on_market(working, tick(1510.0, at=T0 + timedelta(milliseconds=100))) == []
    (fill,) = await v.on_market(working, tick(1520.0, at=T0 + timedelta(milliseconds=200)))
    assert fill.price == 1520.0


async def test_a_limit_order_rests_at_placement_and_fills_once_crossed():
    v = venue(5)
    limit = request(order_type=OrderType.LIMIT, limit_price=1490.0)
    assert await v.place(limit, tick(1500.0)) == [Submitted(order_id="ord-1")]
    working = WorkingOrder(limit)
    assert await v.on_market(working, tick(1495.0, at=T0 + timedelta(seconds=1))) == []
    (fill,) = await v.on_market(working, tick(1490.0, at=T0 + timedelta(seconds=2)))
    assert fill.price == 1490.0  # 1490.75 with slippage would be worse than the limit


async def test_a_working_order_fills_partially_and_then_stops():
    v = venue()
    order = request(quantity=25)
    events = await v.place(order, tick(1500.0, last_quantity=10))
    working = WorkingOrder(order, sum(f.quantity for f in fills(events)))
    for second in (1, 2, 3):
        later = tick(1500.0, at=T0 + timedelta(seconds=second), last_quantity=10)
        for fill in await v.on_market(working, later):
            working = WorkingOrder(order, working.filled_quantity + fill.quantity)
    assert working.filled_quantity == 25
    assert await v.on_market(working, tick(1500.0, at=T0 + timedelta(seconds=9), last_quantity=10)) == []


async def test_placing_the_same_order_twice_gives_the_same_events():
    v = PaperVenue(FillModel(5, ZerodhaEquityCommission()))
    market = tick(1500.0, last_quantity=4)
    assert await v.place(request(), market) == await v.place(request(), market)


async def test_an_instruments_known_tick_size_is_used():
    v = PaperVenue(FillModel(5, NoCommission()), tick_sizes={TOKEN: 0.01})
    (fine,) = fills(await v.place(request(), tick(1500.01)))
    (coarse,) = fills(await venue(5).place(request(), tick(1500.01)))
    # 1500.01 * 1.0005 = 1500.76: up to the next paisa, or to the default 0.05 grid
    assert (fine.price, coarse.price) == (1500.77, 1500.8)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"quantity": 0}, "INVALID_QUANTITY"),
        ({"quantity": -5}, "INVALID_QUANTITY"),
        ({"order_type": OrderType.LIMIT, "limit_price": None}, "INVALID_LIMIT_PRICE"),
        ({"order_type": OrderType.LIMIT, "limit_price": 0.0}, "INVALID_LIMIT_PRICE"),
        ({"reference_price": float("nan")}, "INVALID_REFERENCE_PRICE"),
        ({"created_at": T0.replace(tzinfo=None)}, "INVALID_TIMESTAMP"),
        ({"broker": "zerodha"}, "BROKER_MISMATCH"),
    ],
)
async def test_an_invalid_order_fails_with_a_stable_code_and_nothing_else(changes, code):
    (event,) = await venue().place(request(**changes), tick(1500.0))
    assert isinstance(event, Failed)
    assert (event.order_id, event.reason_code) == ("ord-1", code)
    assert event.reason


async def test_a_market_tick_of_another_instrument_fails_the_order():
    (event,) = await venue().place(request(), tick(1500.0, token=TOKEN + 1))
    assert isinstance(event, Failed) and event.reason_code == "INSTRUMENT_MISMATCH"


async def test_a_venue_serves_the_broker_it_was_built_for():
    v = PaperVenue(FillModel(0, NoCommission()), broker="paper_b")
    assert v.broker == "paper_b"
    assert isinstance((await v.place(request(broker="paper_b"), None))[0], Submitted)


def test_settings_choose_slippage_and_commission_model():
    built = paper_venue_from_settings(
        Settings(trading={"paper": {"slippage_bps": 12.5, "commission": "none"}}), broker="paper")
    assert built.fill_model == FillModel(12.5, NoCommission())
    zerodha = paper_venue_from_settings(Settings(trading={"paper": {"commission": "zerodha"}}))
    assert zerodha.fill_model.commission == ZerodhaEquityCommission("MIS")


async def test_a_tick_newer_than_the_signal_is_left_for_on_market_so_placement_does_not_race_the_feed():
    v = venue()
    newer = tick(1600.0, at=T0 + timedelta(seconds=1))
    (fill,) = fills(await v.place(request(), newer))
    assert fill.price == 1500.0  # the market at the order's event time: its reference price


async def test_the_tick_stamped_at_the_signal_gives_its_size_at_placement():
    events = await venue().place(request(quantity=25), tick(1500.0, last_quantity=10))
    assert [f.quantity for f in fills(events)] == [10]


def test_it_is_matched_on_ticks_while_orders_work():
    assert venue().matches_on_ticks is True


def test_settings_choose_latency_and_the_share_of_liquidity():
    built = paper_venue_from_settings(Settings(trading={"paper": {"latency_ms": 250, "liquidity_fraction": 0.5}}))
    assert (built.fill_model.latency_ms, built.fill_model.liquidity_fraction) == (250, 0.5)
