"""Account books: cash, positions per (strategy, instrument), idempotent fills, summary."""

import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from alphapanda.models import PortfolioSummary, Side
from alphapanda.portfolio import DAILY_HISTORY_DAYS, Account

T0 = datetime(2026, 11, 21, 9, 15, tzinfo=UTC)
TOKEN, OTHER = 256265, 408065


def fill(account, fill_id, side, quantity, price, commission=0.0, *, strategy="momentum_v1",
         token=TOKEN, at=T0):
    return account.apply_fill(fill_id, strategy, token, side, quantity, price, commission, at)


def fresh(cash=100_000.0, **kwargs) -> Account:
    return Account.open(cash, **kwargs)


def test_a_new_account_holds_only_its_starting_cash():
    a = fresh(50_000.0)
    assert a.cash == a.equity == 50_000.0
    assert a.positions == {}
    assert a.total_pnl == 0.0


def test_a_buy_reduces_cash_by_notional_and_commission():
    a, applied = fill(fresh(), "f1", Side.BUY, 10, 100.0, 2.0)
    assert applied
    assert a.cash == pytest.approx(100_000.0 - 1_000.0 - 2.0)


def test_a_sell_increases_cash_by_notional_less_commission():
    a, _ = fill(fresh(), "f1", Side.SELL, 10, 100.0, 2.0)
    assert a.cash == pytest.approx(100_000.0 + 1_000.0 - 2.0)


def test_equity_is_cash_plus_market_value_of_positions():
    a, _ = fill(fresh(), "f1", Side.BUY, 10, 100.0)
    a, _ = fill(a, "f2", Side.SELL, 4, 50.0, token=OTHER)
    a = a.mark(TOKEN, 110.0).mark(OTHER, 45.0)
    assert a.equity == pytest.approx(a.cash + 10 * 110.0 - 4 * 45.0)
    assert a.equity - a.starting_cash == pytest.approx(a.total_pnl)


def test_positions_are_kept_per_strategy_and_instrument():
    a, _ = fill(fresh(), "f1", Side.BUY, 10, 100.0, strategy="a")
    a, _ = fill(a, "f2", Side.SELL, 3, 100.0, strategy="b")
    a, _ = fill(a, "f3", Side.BUY, 1, 20.0, strategy="a", token=OTHER)
    assert a.position("a", TOKEN).quantity == 10
    assert a.position("b", TOKEN).quantity == -3
    assert a.position("a", OTHER).quantity == 1
    assert a.position("b", OTHER) is None


def test_a_duplicate_fill_id_is_a_no_op():
    once, _ = fill(fresh(), "f1", Side.BUY, 10, 100.0, 1.0)
    twice, applied = fill(once, "f1", Side.BUY, 10, 100.0, 1.0)
    assert applied is False
    assert twice is once


def test_a_duplicate_fill_id_is_a_no_op_even_with_different_content():
    once, _ = fill(fresh(), "f1", Side.BUY, 10, 100.0)
    again, applied = fill(once, "f1", Side.SELL, 99, 1.0)
    assert applied is False and again is once


def test_fill_ids_are_remembered_up_to_the_window_and_then_forgotten_oldest_first():
    a = fresh(fill_id_window=3)
    for i in range(4):
        a, _ = fill(a, f"f{i}", Side.BUY, 1, 100.0)
    assert a.recent_fill_ids == ("f1", "f2", "f3")
    assert a.fills_applied == 4
    assert not a.has_applied("f0")
    assert a.has_applied("f3")


def test_a_smaller_window_on_load_keeps_the_most_recent_ids():
    a = fresh(fill_id_window=5)
    for i in range(5):
        a, _ = fill(a, f"f{i}", Side.BUY, 1, 100.0)
    b = Account.from_dict(a.to_dict(), fill_id_window=2)
    assert b.recent_fill_ids == ("f3", "f4")
    assert b.has_applied("f4") and not b.has_applied("f2")


def test_instrument_tokens_lists_every_instrument_held_once():
    a, _ = fill(fresh(), "f1", Side.BUY, 10, 100.0, strategy="a")
    a, _ = fill(a, "f2", Side.SELL, 5, 100.0, strategy="b")
    a, _ = fill(a, "f3", Side.BUY, 1, 20.0, token=OTHER)
    assert a.instrument_tokens() == sorted([TOKEN, OTHER])


def test_summary_reports_the_realized_pnl_of_the_day_of_its_last_event():
    a, _ = fill(fresh(), "f1", Side.BUY, 10, 100.0, at=T0)
    a, _ = fill(a, "f2", Side.SELL, 10, 105.0, at=T0)
    a, _ = fill(a, "f3", Side.BUY, 10, 100.0, 2.0, at=T0 + timedelta(days=1))
    assert a.summary("paper").realized_pnl_today == -2.0
    assert a.summary("paper").realized_pnl == 48.0


def test_summary_of_an_untouched_account_has_no_day_yet():
    assert fresh().summary("paper").realized_pnl_today is None


def test_mark_values_every_position_in_that_instrument_and_no_other():
    a, _ = fill(fresh(), "f1", Side.BUY, 10, 100.0, strategy="a")
    a, _ = fill(a, "f2", Side.SELL, 5, 100.0, strategy="b")
    a, _ = fill(a, "f3", Side.BUY, 1, 20.0, token=OTHER)
    a = a.mark(TOKEN, 102.0)
    assert a.position("a", TOKEN).unrealized_pnl == pytest.approx(20.0)
    assert a.position("b", TOKEN).unrealized_pnl == pytest.approx(-10.0)
    assert a.position("momentum_v1", OTHER).last_price == 20.0


def test_mark_of_an_instrument_not_held_returns_the_same_account():
    a, _ = fill(fresh(), "f1", Side.BUY, 10, 100.0)
    assert a.mark(OTHER, 5.0, T0 + timedelta(seconds=1)) is a


def test_mark_all_is_mark_once_per_instrument():
    a, _ = fill(fresh(), "f1", Side.BUY, 10, 100.0)
    a, _ = fill(a, "f2", Side.SELL, 5, 50.0, strategy="mean_rev", token=OTHER)
    a, _ = fill(a, "f3", Side.BUY, 2, 101.0, strategy="mean_rev")
    marks = {TOKEN: (103.0, T0 + timedelta(seconds=2)), OTHER: (50.0, T0 + timedelta(seconds=9)),
             999: (7.0, T0 + timedelta(hours=1))}
    one_by_one = a
    for token, (price, at) in marks.items():
        one_by_one = one_by_one.mark(token, price, at)
    assert a.mark_all(marks) == one_by_one
    # OTHER's price did not change, so its later time does not move the account's clock.
    assert a.mark_all(marks).updated_at == T0 + timedelta(seconds=2)
    assert a.mark_all({OTHER: (50.0, None)}) is a


def test_updated_at_is_the_latest_event_time_of_a_fill_or_mark():
    a, _ = fill(fresh(), "f1", Side.BUY, 10, 100.0, at=T0)
    assert a.updated_at == T0
    a = a.mark(TOKEN, 101.0, T0 + timedelta(seconds=5))
    assert a.updated_at == T0 + timedelta(seconds=5)
    a, _ = fill(a, "f2", Side.BUY, 1, 100.0, at=T0 + timedelta(seconds=2))
    assert a.updated_at == T0 + timedelta(seconds=5)


def test_realized_pnl_is_booked_on_the_utc_day_of_the_fill():
    ist = timezone(timedelta(hours=5, minutes=30))
    day1 = datetime(2026, 11, 21, 15, 0, tzinfo=ist)  # 09:30 UTC on the 21st
    day2 = datetime(2026, 11, 22, 4, 0, tzinfo=ist)  # 22:30 UTC on the 21st (the 22nd in IST)
    day3 = datetime(2026, 11, 22, 6, 0, tzinfo=ist)  # 00:30 UTC on the 22nd
    a, _ = fill(fresh(), "f1", Side.BUY, 10, 100.0, 1.0, at=day1)
    a, _ = fill(a, "f2", Side.SELL, 5, 90.0, 1.0, at=day2)
    a, _ = fill(a, "f3", Side.SELL, 5, 110.0, 1.0, at=day3)
    assert a.realized_pnl_today(date(2026, 11, 21)) == pytest.approx(-1.0 - 50.0 - 1.0)
    assert a.realized_pnl_today(date(2026, 11, 22)) == pytest.approx(50.0 - 1.0)
    assert a.realized_pnl_today(day3) == pytest.approx(50.0 - 1.0)
    assert a.realized_pnl_today(date(2026, 11, 23)) == 0.0


def test_daily_realized_pnl_keeps_only_the_most_recent_days():
    a = fresh()
    for i in range(DAILY_HISTORY_DAYS + 5):
        a, _ = fill(a, f"f{i}", Side.BUY, 1, 100.0, 1.0, at=T0 + timedelta(days=i))
    assert len(a.daily_realized) == DAILY_HISTORY_DAYS
    assert a.realized_pnl_today(T0) == 0.0
    assert a.realized_pnl_today(T0 + timedelta(days=DAILY_HISTORY_DAYS + 4)) == -1.0


def test_naive_event_times_are_refused():
    with pytest.raises(ValueError):
        fill(fresh(), "f1", Side.BUY, 1, 100.0, at=datetime(2026, 11, 21, 9, 15))


def test_a_refused_fill_leaves_its_id_unused():
    a = fresh()
    with pytest.raises(ValueError):
        fill(a, "f1", Side.BUY, 0, 100.0)
    assert not a.has_applied("f1")


def test_summary_has_the_contract_shape():
    a, _ = fill(fresh(), "f1", Side.BUY, 4, 100.0, at=T0)
    a, _ = fill(a, "f2", Side.BUY, 6, 102.0, at=T0 + timedelta(seconds=1))
    a, _ = fill(a, "f3", Side.BUY, 1, 50.0, strategy="other", token=OTHER)
    a = a.mark(TOKEN, 102.0, T0 + timedelta(seconds=1))
    summary = a.summary("paper")
    assert isinstance(summary, PortfolioSummary)
    assert json.loads(summary.model_dump_json()) == {
        "broker": "paper",
        "positions": [
            {"strategy_id": "momentum_v1", "instrument_token": TOKEN, "quantity": 10,
             "average_price": 101.2, "last_price": 102.0, "realized_pnl": 0.0,
             "unrealized_pnl": 8.0, "fills": 2},
            {"strategy_id": "other", "instrument_token": OTHER, "quantity": 1,
             "average_price": 50.0, "last_price": 50.0, "realized_pnl": 0.0,
             "unrealized_pnl": 0.0, "fills": 1},
        ],
        "realized_pnl": 0.0, "unrealized_pnl": 8.0, "total_pnl": 8.0, "fills": 3,
        "cash": 100_000.0 - 400.0 - 612.0 - 50.0, "equity": 100_000.0 + 8.0,
        "realized_pnl_today": 0.0,
        "updated_at": "2026-11-21T09:15:01Z",
    }


def test_summary_rounds_money_to_a_millionth():
    a, _ = fill(fresh(0.0), "f1", Side.BUY, 3, 0.1, 0.0000004)
    summary = a.summary("paper")
    assert summary.cash == -0.3
    assert summary.realized_pnl == 0.0


def test_flat_positions_stay_in_the_summary_with_their_realized_pnl():
    a, _ = fill(fresh(), "f1", Side.BUY, 10, 100.0)
    a, _ = fill(a, "f2", Side.SELL, 10, 101.0)
    [view] = a.summary("paper").positions
    assert view.quantity == 0 and view.realized_pnl == 10.0


def test_state_round_trips_through_json():
    a, _ = fill(fresh(), "f1", Side.BUY, 10, 100.1, 0.3)
    a, _ = fill(a, "f2", Side.SELL, 3, 100.7, 0.2, strategy="b", token=OTHER)
    a = a.mark(TOKEN, 99.9, T0 + timedelta(minutes=1))
    restored = Account.from_dict(json.loads(json.dumps(a.to_dict())))
    assert restored == a
    assert restored.has_applied("f2")
    assert restored.summary("paper") == a.summary("paper")


def test_the_books_cannot_be_changed_in_place():
    a, _ = fill(fresh(), "f1", Side.BUY, 10, 100.0)
    with pytest.raises(TypeError):
        a.positions[("x", 1)] = a.position("momentum_v1", TOKEN)  # type: ignore[index]
