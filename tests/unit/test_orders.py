"""The order lifecycle: NEW -> SUBMITTED -> PARTIALLY_FILLED -> FILLED / FAILED / CANCELLED."""

import json
from datetime import UTC, datetime, timedelta

from alphapanda.execution.orders import OrderRecord, OrderState
from alphapanda.execution.venue import Cancelled, Failed, Fill, OrderRequest, Submitted
from alphapanda.models import MarketTick, OrderType, Side

T0 = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)


def new(quantity: int = 10) -> OrderRecord:
    return OrderRecord.new(OrderRequest(
        order_id="o1", broker="paper", account_id="paper", signal_id="s1", strategy_id="m",
        instrument_token=408065, side=Side.BUY, quantity=quantity, order_type=OrderType.LIMIT,
        limit_price=99.0, reference_price=100.0, created_at=T0,
    ), correlation_id="chain-1")


def fill(filled_after: int, quantity: int, price: float = 99.0) -> Fill:
    return Fill("o1", f"o1-{filled_after}", quantity, price, 0.5, T0 + timedelta(seconds=filled_after))


def tick(seconds: float, volume: int | None = None) -> MarketTick:
    return MarketTick(instrument_token=408065, last_price=99.0, timestamp=T0 + timedelta(seconds=seconds), volume=volume)


def test_an_order_starts_new_and_is_submitted_on_acceptance():
    record = new()
    assert record.state is OrderState.NEW and not record.is_working
    record = record.apply(Submitted("o1", "V1"), T0)
    assert record.state is OrderState.SUBMITTED and record.venue_order_id == "V1" and record.is_working


def test_fills_move_it_through_partially_filled_to_filled_with_an_average_price():
    record = new().apply(Submitted("o1"), T0).apply(fill(4, 4, 99.0), T0)
    assert record.state is OrderState.PARTIALLY_FILLED and record.remaining == 6
    record = record.apply(fill(10, 6, 98.0), T0)
    assert record.state is OrderState.FILLED and not record.is_working
    assert record.average_fill_price == (4 * 99.0 + 6 * 98.0) / 10 and record.commission == 1.0


def test_a_repeated_fill_or_one_beyond_the_quantity_does_not_apply():
    record = new().apply(Submitted("o1"), T0).apply(fill(4, 4), T0)
    assert not record.applies(fill(4, 4))
    assert not record.applies(Fill("o1", "other", 7, 99.0, 0.0, T0))


def test_nothing_applies_after_a_final_state():
    failed = new().apply(Failed("o1", "VENUE_REJECTED", "no"), T0)
    assert failed.state is OrderState.FAILED and failed.state.is_final
    assert not failed.applies(Submitted("o1")) and not failed.applies(Cancelled("o1"))
    cancelled = new().apply(Submitted("o1"), T0).apply(Cancelled("o1", "by user"), T0)
    assert cancelled.state is OrderState.CANCELLED and not cancelled.applies(Failed("o1", "X", "x"))


def test_a_fill_reported_after_a_cancel_still_counts_and_the_order_stays_cancelled():
    cancelled = new().apply(Submitted("o1"), T0).apply(Cancelled("o1", "by user"), T0)
    assert cancelled.applies(fill(3, 3))
    after = cancelled.apply(fill(3, 3), T0)
    assert after.state is OrderState.CANCELLED and after.filled_quantity == 3


def test_a_second_acceptance_is_not_applied_again():
    record = new().apply(Submitted("o1", "V1"), T0)
    assert not record.applies(Submitted("o1", "V1"))


def test_its_outcomes_replay_every_applied_event_in_order():
    events = [Submitted("o1", "V1"), fill(4, 4), fill(10, 6, 98.0)]
    record = new()
    for event in events:
        record = record.apply(event, T0)
    assert record.outcomes() == events
    halted = new().apply(Failed("o1", "VENUE_SESSION_INVALID", "expired", halts_trading=True), T0)
    assert halted.outcomes() == [Failed("o1", "VENUE_SESSION_INVALID", "expired", halts_trading=True)]


def test_it_survives_a_json_round_trip():
    record = new().apply(Submitted("o1", "V1"), T0).apply(fill(4, 4), T0).saw_tick(tick(4, 1000))
    assert OrderRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record


def test_only_ticks_after_its_event_time_and_after_the_last_matched_tick_are_new():
    record = new()
    assert not record.is_new_tick(tick(0)) and not record.is_new_tick(tick(-1))
    assert record.is_new_tick(tick(1))
    seen = record.saw_tick(tick(2, volume=500))
    assert not seen.is_new_tick(tick(2, volume=500)) and not seen.is_new_tick(tick(1))
    assert seen.is_new_tick(tick(2, volume=600)) and seen.is_new_tick(tick(3))


def test_the_working_order_carries_what_is_filled_so_far():
    record = new().apply(Submitted("o1"), T0).apply(fill(4, 4, 99.0), T0)
    working = record.working()
    assert (working.filled_quantity, working.average_fill_price, working.remaining) == (4, 99.0, 6)
    assert working.request.created_at == T0
