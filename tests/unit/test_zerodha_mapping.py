"""Zerodha mapping: our orders -> Kite parameters, Kite errors -> outcomes, order updates -> events."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from kiteconnect import exceptions as kite_errors

from alphapanda.execution.venue import Cancelled, Failed, Fill, OrderRequest
from alphapanda.execution.zerodha.order_mapping import (
    ErrorKind,
    classify_error,
    is_index_token,
    is_our_tag,
    order_tag,
    to_kite_params,
)
from alphapanda.execution.zerodha.order_updates import (
    OrderUpdateError,
    OrderUpdateTracker,
    kite_timestamp,
)
from alphapanda.models import OrderType, Side

INFY = ("NSE", "INFY")


def make_order(order_id: str = "ord-1", *, side: Side = Side.BUY, quantity: int = 5,
               order_type: OrderType = OrderType.MARKET, limit_price: float | None = None) -> OrderRequest:
    return OrderRequest(
        order_id=order_id, broker="zerodha", account_id="zerodha", signal_id="sig-1",
        strategy_id="momentum_v1", instrument_token=408065, side=side, quantity=quantity,
        order_type=order_type, limit_price=limit_price, reference_price=1500.0,
        created_at=datetime(2026, 11, 21, 3, 45, tzinfo=timezone.utc),
    )


# Tags -------------------------------------------------------------------------------------


@given(st.text(min_size=1, max_size=128))
def test_a_tag_is_at_most_20_alphanumeric_characters(order_id):
    tag = order_tag(order_id)
    assert re.fullmatch(r"[A-Za-z0-9]{1,20}", tag)
    assert is_our_tag(tag)


def test_a_tag_is_the_same_on_every_run():
    # A fixed value: if the derivation changes, orders placed before a restart are no longer found.
    assert order_tag("abc") == "APXJ4BNP4PAHH6UQKBID"


def test_different_order_ids_get_different_tags():
    tags = {order_tag(f"order-{i}") for i in range(10_000)}
    assert len(tags) == 10_000


def test_foreign_tags_are_not_ours():
    assert not is_our_tag("manual")
    assert not is_our_tag(None)
    assert not is_our_tag("XX" + "A" * 18)


def test_index_tokens_are_recognised_by_segment():
    assert is_index_token(256265)  # NIFTY 50
    assert not is_index_token(408065)  # INFY


# Parameters -------------------------------------------------------------------------------


def test_a_market_order_maps_to_kite_parameters_without_a_price():
    params = to_kite_params(make_order(side=Side.SELL, quantity=7), INFY)
    assert params.as_kwargs() == {
        "variety": "regular", "exchange": "NSE", "tradingsymbol": "INFY",
        "transaction_type": "SELL", "quantity": 7, "product": "MIS", "order_type": "MARKET",
        "validity": "DAY", "tag": order_tag("ord-1"),
    }


def test_a_limit_order_carries_its_price():
    params = to_kite_params(make_order(order_type=OrderType.LIMIT, limit_price=1499.5), INFY,
                            product="CNC")
    assert params.order_type == "LIMIT"
    assert params.price == 1499.5
    assert params.product == "CNC"


def test_a_limit_order_without_a_price_is_refused():
    with pytest.raises(ValueError):
        to_kite_params(make_order(order_type=OrderType.LIMIT, limit_price=None), INFY)


# Errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("exc, kind", [
    (kite_errors.TokenException("expired", code=403), ErrorKind.SESSION_INVALID),
    (kite_errors.InputException("bad quantity", code=400), ErrorKind.REJECTED),
    (kite_errors.OrderException("margin", code=400), ErrorKind.REJECTED),
    (kite_errors.PermissionException("no", code=403), ErrorKind.REJECTED),
    (kite_errors.NetworkException("Too many requests", code=429), ErrorKind.TRANSIENT),
    (kite_errors.NetworkException("oms down", code=503), ErrorKind.TRANSIENT),
    (kite_errors.GeneralException("boom", code=500), ErrorKind.TRANSIENT),
    (kite_errors.GeneralException("bad", code=400), ErrorKind.REJECTED),
    (kite_errors.DataException("html page", code=502), ErrorKind.TRANSIENT),
    (requests.ReadTimeout("read timed out"), ErrorKind.TRANSIENT),
    (requests.ConnectionError("refused"), ErrorKind.TRANSIENT),
    (KeyError("content-type"), ErrorKind.TRANSIENT),
])
def test_kite_errors_are_classified(exc, kind):
    assert classify_error(exc) is kind


# Order updates ----------------------------------------------------------------------------


def update(tag: str | None, status: str, filled: int = 0, average: float = 0.0, **extra) -> dict:
    data = {"order_id": "250000000000001", "tag": tag, "status": status, "quantity": 10,
            "filled_quantity": filled, "average_price": average,
            "exchange_update_timestamp": "2026-11-21 09:15:00", **extra}
    return data


@pytest.fixture
def tracker() -> OrderUpdateTracker:
    tracker = OrderUpdateTracker()
    tracker.register("ord-1")
    return tracker


def test_a_complete_order_is_one_fill_with_a_deterministic_id(tracker):
    events = tracker.parse_order_update(update(order_tag("ord-1"), "COMPLETE", 10, 101.5))
    assert events == [Fill("ord-1", "ord-1-10", 10, 101.5, 0.0,
                           datetime(2026, 11, 21, 3, 45, tzinfo=timezone.utc))]


def test_a_websocket_frame_is_read_like_a_postback(tracker):
    frame = {"type": "order", "data": update(order_tag("ord-1"), "COMPLETE", 10, 101.5)}
    assert [e.fill_id for e in tracker.parse_order_update(frame)] == ["ord-1-10"]


def test_other_websocket_frames_are_ignored(tracker):
    assert tracker.parse_order_update({"type": "message", "data": "hello"}) == []


def test_partial_fills_are_reported_as_deltas_priced_at_their_own_average(tracker):
    tag = order_tag("ord-1")
    first = tracker.parse_order_update(update(tag, "OPEN", 4, 100.0))
    second = tracker.parse_order_update(update(tag, "COMPLETE", 10, 101.2))
    assert [(f.fill_id, f.quantity, f.price) for f in first + second] == [
        ("ord-1-4", 4, 100.0),
        ("ord-1-10", 6, 102.0),  # (101.2 * 10 - 100 * 4) / 6
    ]


def test_a_repeated_update_yields_nothing(tracker):
    payload = update(order_tag("ord-1"), "COMPLETE", 10, 101.5)
    tracker.parse_order_update(payload)
    assert tracker.parse_order_update(payload) == []


def test_a_stale_update_with_less_filled_yields_nothing(tracker):
    tag = order_tag("ord-1")
    tracker.parse_order_update(update(tag, "OPEN", 6, 100.0))
    assert tracker.parse_order_update(update(tag, "OPEN", 4, 100.0)) == []


def test_a_rejection_fails_the_order_with_kites_message(tracker):
    events = tracker.parse_order_update(
        update(order_tag("ord-1"), "REJECTED", status_message="Insufficient funds"))
    assert events == [Failed("ord-1", "VENUE_REJECTED", "Insufficient funds")]


def test_a_cancellation_after_a_partial_fill_reports_the_fill_first(tracker):
    events = tracker.parse_order_update(update(order_tag("ord-1"), "CANCELLED", 3, 99.0))
    assert [type(e) for e in events] == [Fill, Cancelled]
    assert events[0].quantity == 3
    assert events[1].order_id == "ord-1"


def test_a_terminal_status_is_reported_once(tracker):
    payload = update(order_tag("ord-1"), "CANCELLED")
    assert len(tracker.parse_order_update(payload)) == 1
    assert tracker.parse_order_update(payload) == []


def test_updates_of_orders_that_are_not_ours_are_ignored(tracker):
    assert tracker.parse_order_update(update(None, "COMPLETE", 10, 100.0, order_id="999")) == []
    assert tracker.parse_order_update(update("manual", "COMPLETE", 10, 100.0, order_id="999")) == []
    assert tracker.parse_order_update(update(order_tag("someone-else"), "COMPLETE", 10, 100.0,
                                             order_id="999")) == []


def test_an_update_without_a_tag_maps_by_the_kite_order_id_once_known():
    tracker = OrderUpdateTracker()
    tracker.register("ord-2", venue_order_id="250000000000007")
    events = tracker.parse_order_update(update(None, "COMPLETE", 10, 100.0, order_id="250000000000007"))
    assert [e.order_id for e in events] == ["ord-2"]


def test_a_remembered_filled_quantity_is_not_reported_again():
    tracker = OrderUpdateTracker()
    tracker.register("ord-3", filled_quantity=4)
    events = tracker.parse_order_update(update(order_tag("ord-3"), "COMPLETE", 10, 101.0))
    assert [(e.fill_id, e.quantity, e.price) for e in events] == [("ord-3-10", 6, 101.0)]


def test_a_fill_without_a_price_waits_for_the_next_update(tracker):
    tag = order_tag("ord-1")
    assert tracker.parse_order_update(update(tag, "OPEN", 4, 0.0)) == []
    assert [e.quantity for e in tracker.parse_order_update(update(tag, "OPEN", 4, 100.0))] == [4]


def test_a_malformed_update_of_our_order_is_an_error(tracker):
    with pytest.raises(OrderUpdateError):
        tracker.parse_order_update(update(order_tag("ord-1"), "OPEN", filled="lots"))


def test_kite_times_are_india_standard_time():
    assert kite_timestamp("2026-11-21 09:15:00") == datetime(2026, 11, 21, 3, 45, tzinfo=timezone.utc)
    assert kite_timestamp(datetime(2026, 11, 21, 9, 15)) == datetime(2026, 11, 21, 3, 45,
                                                                    tzinfo=timezone.utc)
    assert kite_timestamp(None) is None
    assert kite_timestamp("not a time") is None
