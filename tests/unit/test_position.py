"""Position accounting: signed quantity, average open price, realized PnL on the closed part."""

import json
import math

import pytest

from alphapanda.models import Side
from alphapanda.portfolio import Position

BUY, SELL = Side.BUY, Side.SELL


def flat() -> Position:
    return Position("momentum_v1", 256265)


def test_a_new_position_is_flat_and_unpriced():
    p = flat()
    assert p.quantity == 0 and p.is_flat
    assert p.average_price == 0.0
    assert p.last_price is None
    assert p.realized_pnl == 0.0 and p.unrealized_pnl == 0.0


def test_buy_opens_a_long_at_the_fill_price():
    p = flat().apply_fill(BUY, 10, 100.0)
    assert p.quantity == 10
    assert p.average_price == 100.0
    assert p.fills == 1


def test_apply_fill_returns_a_new_object_and_leaves_the_old_one_alone():
    before = flat()
    after = before.apply_fill(BUY, 10, 100.0)
    assert after is not before
    assert before.quantity == 0 and before.fills == 0


def test_adding_to_a_long_moves_the_average_to_the_weighted_cost():
    p = flat().apply_fill(BUY, 10, 100.0).apply_fill(BUY, 30, 104.0)
    assert p.quantity == 40
    assert p.average_price == pytest.approx((10 * 100.0 + 30 * 104.0) / 40)


def test_partial_close_realizes_on_the_closed_part_and_keeps_the_average():
    p = flat().apply_fill(BUY, 10, 100.0).apply_fill(SELL, 4, 110.0)
    assert p.quantity == 6
    assert p.average_price == 100.0
    assert p.realized_pnl == pytest.approx(4 * 10.0)


def test_full_close_is_flat_with_all_pnl_realized():
    p = flat().apply_fill(BUY, 10, 100.0).apply_fill(SELL, 10, 95.0)
    assert p.is_flat
    assert p.average_price == 0.0
    assert p.realized_pnl == pytest.approx(-50.0)
    assert p.unrealized_pnl == 0.0


def test_flip_long_to_short_closes_the_long_and_opens_the_rest_at_the_fill_price():
    p = flat().apply_fill(BUY, 10, 100.0).apply_fill(SELL, 15, 103.0)
    assert p.quantity == -5
    assert p.average_price == 103.0
    assert p.realized_pnl == pytest.approx(10 * 3.0)


def test_flip_short_to_long_closes_the_short_and_opens_the_rest_at_the_fill_price():
    p = flat().apply_fill(SELL, 8, 50.0).apply_fill(BUY, 20, 48.0)
    assert p.quantity == 12
    assert p.average_price == 48.0
    assert p.realized_pnl == pytest.approx(8 * 2.0)


def test_sell_from_flat_opens_a_short():
    p = flat().apply_fill(SELL, 5, 200.0)
    assert p.quantity == -5
    assert p.average_price == 200.0


def test_adding_to_a_short_moves_the_average_to_the_weighted_proceeds():
    p = flat().apply_fill(SELL, 5, 200.0).apply_fill(SELL, 15, 196.0)
    assert p.quantity == -20
    assert p.average_price == pytest.approx((5 * 200.0 + 15 * 196.0) / 20)


def test_covering_a_short_below_the_entry_realizes_a_gain():
    p = flat().apply_fill(SELL, 5, 200.0).apply_fill(BUY, 5, 190.0)
    assert p.is_flat
    assert p.realized_pnl == pytest.approx(50.0)


def test_a_short_loses_unrealized_pnl_when_the_price_rises():
    p = flat().apply_fill(SELL, 5, 200.0).mark(204.0)
    assert p.unrealized_pnl == pytest.approx(-20.0)


def test_commissions_are_subtracted_from_realized_pnl_on_every_fill_including_opening():
    opened = flat().apply_fill(BUY, 10, 100.0, commission=2.5)
    assert opened.realized_pnl == pytest.approx(-2.5)
    closed = opened.apply_fill(SELL, 10, 101.0, commission=3.0)
    assert closed.realized_pnl == pytest.approx(10.0 - 2.5 - 3.0)
    assert closed.commissions == pytest.approx(5.5)


def test_commissions_do_not_change_the_average_price():
    p = flat().apply_fill(BUY, 10, 100.0, commission=20.0)
    assert p.average_price == 100.0


def test_mark_updates_unrealized_pnl_from_the_average_price():
    p = flat().apply_fill(BUY, 10, 101.25).mark(102.0)
    assert p.last_price == 102.0
    assert p.unrealized_pnl == pytest.approx(7.5)


def test_a_fill_marks_the_position_at_the_fill_price():
    p = flat().apply_fill(BUY, 10, 100.0).mark(105.0).apply_fill(BUY, 10, 102.0)
    assert p.last_price == 102.0
    assert p.unrealized_pnl == pytest.approx((102.0 - 101.0) * 20)


def test_mark_at_the_same_price_returns_the_same_object():
    p = flat().apply_fill(BUY, 1, 100.0)
    assert p.mark(100.0) is p


def test_a_flat_position_has_no_unrealized_pnl_whatever_the_price():
    p = flat().apply_fill(BUY, 10, 100.0).apply_fill(SELL, 10, 100.0).mark(500.0)
    assert p.unrealized_pnl == 0.0


def test_sides_may_be_given_as_wire_strings():
    assert flat().apply_fill("SELL", 3, 10.0).quantity == -3


@pytest.mark.parametrize("quantity, price, commission", [
    (0, 100.0, 0.0), (-1, 100.0, 0.0), (1.5, 100.0, 0.0), (True, 100.0, 0.0),
    (1, 0.0, 0.0), (1, -1.0, 0.0), (1, math.nan, 0.0), (1, math.inf, 0.0),
    (1, 100.0, -0.01), (1, 100.0, math.nan),
])
def test_a_fill_that_would_corrupt_the_books_is_refused(quantity, price, commission):
    with pytest.raises(ValueError):
        flat().apply_fill(BUY, quantity, price, commission)


@pytest.mark.parametrize("price", [0.0, -3.0, math.nan, math.inf])
def test_a_bad_mark_price_is_refused(price):
    with pytest.raises(ValueError):
        flat().mark(price)


def test_state_round_trips_through_json_exactly():
    p = flat().apply_fill(BUY, 7, 100.1, 0.37).apply_fill(SELL, 3, 99.93, 0.11).mark(100.07)
    assert Position.from_dict(json.loads(json.dumps(p.to_dict()))) == p


def test_view_has_the_contract_shape_with_money_rounded_to_a_millionth():
    p = flat().apply_fill(BUY, 3, 100.0).apply_fill(BUY, 1, 100.0000001).mark(101.0)
    view = p.view()
    assert view.model_dump() == {
        "strategy_id": "momentum_v1", "instrument_token": 256265, "quantity": 4,
        "average_price": 100.0, "last_price": 101.0, "realized_pnl": 0.0,
        "unrealized_pnl": round(p.unrealized_pnl, 6), "fills": 2,
    }


def test_a_position_makes_its_view_once_and_every_change_gets_its_own():
    p = flat().apply_fill(BUY, 4, 100.0)
    view = p.view()
    assert p.view() is view  # a snapshot re-uses the views of untouched positions
    marked, filled = p.mark(103.0), p.apply_fill(SELL, 1, 104.0)
    assert marked.view().last_price == 103.0 and marked.view().unrealized_pnl == pytest.approx(12.0)
    assert filled.view().quantity == 3 and filled.view().realized_pnl == pytest.approx(4.0)
    assert view.last_price == 100.0 and view.quantity == 4  # the first view is unchanged


def test_a_made_view_does_not_change_equality_or_the_stored_state():
    p = flat().apply_fill(BUY, 2, 50.0)
    q = Position.from_dict(p.to_dict())
    p.view()
    assert p == q and hash(p) == hash(q)
    assert "_view" not in p.to_dict() and "_view" not in repr(p)
