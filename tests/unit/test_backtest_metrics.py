"""Backtest statistics against hand-computed cases, and against the portfolio's own accounting."""

import math
import random
from datetime import datetime, timedelta, timezone

import pytest

from alphapanda.backtest.metrics import ANNUALIZATION, BacktestBooks, FillRecord, max_drawdown, sharpe_ratio
from alphapanda.portfolio import Account

T0 = datetime(2026, 11, 23, 9, 15, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def fill(seconds, side, quantity, price, commission=0.0, strategy="s1", token=1, broker="paper", n=[0]):
    n[0] += 1
    return FillRecord(broker, strategy, token, side, quantity, price, commission, at(seconds), f"f{n[0]}")


def test_a_winning_round_trip():
    books = BacktestBooks({"paper": 100_000.0})
    books.on_fill(fill(0, "BUY", 10, 100.0, 1.0))
    books.on_tick(1, 110.0, at(30))
    books.on_fill(fill(60, "SELL", 10, 105.0, 1.0))
    books.on_tick(1, 120.0, at(120))
    s = books.strategies()["s1"]
    # (105 - 100) x 10 - 2 commissions; flat at the end.
    assert (s["realized_pnl"], s["unrealized_pnl"], s["total_pnl"], s["commissions"]) == (48.0, 0.0, 48.0, 2.0)
    assert (s["trades"], s["wins"], s["win_rate"], s["fills"]) == (1, 1, 1.0, 2)
    # Equity -1 (the first commission), 99 (marked at 110), 48 (sold at 105): from 99 down to 48.
    assert s["max_drawdown"] == 51.0
    # Open from 0 s to 60 s of a 120 s tape; the most held: 10 x 110.
    assert s["exposure_time"] == 0.5 and s["max_gross_exposure"] == 1100.0


def test_a_losing_partial_close_and_a_flip():
    books = BacktestBooks({"paper": 100_000.0})
    books.on_fill(fill(0, "BUY", 10, 100.0))
    books.on_fill(fill(1, "SELL", 4, 90.0))     # closes 4 at a loss of 10 each
    books.on_tick(1, 95.0, at(2))              # 6 left at 100, marked 95
    s = books.strategies()["s1"]
    assert (s["realized_pnl"], s["unrealized_pnl"], s["total_pnl"]) == (-40.0, -30.0, -70.0)
    assert (s["trades"], s["wins"], s["win_rate"]) == (1, 0, 0.0)
    books.on_fill(fill(3, "SELL", 8, 95.0))     # closes 6 (-30) and opens 2 short at 95
    books.on_fill(fill(4, "SELL", 1, 95.0))     # adds to the short: not a trade
    s = books.strategies()["s1"]
    assert (s["trades"], s["realized_pnl"], s["unrealized_pnl"]) == (2, -70.0, 0.0)


def test_no_trades_no_win_rate_and_a_curve_that_never_falls():
    books = BacktestBooks({"paper": 1000.0})
    books.on_fill(fill(0, "BUY", 1, 100.0))
    books.on_tick(1, 101.0, at(60))
    s = books.strategies()["s1"]
    assert s["trades"] == 0 and s["win_rate"] is None and s["max_drawdown"] == 0.0
    assert max_drawdown([]) == 0.0 and max_drawdown([5, 3, 8, 1, 4]) == 7


def test_a_brokers_statistics_are_its_strategies_together():
    books = BacktestBooks({"paper": 1000.0, "zerodha": 1000.0})
    books.on_fill(fill(0, "BUY", 10, 100.0, 1.0, strategy="a", token=1))   # a: long 10 @ 100
    books.on_fill(fill(30, "SELL", 5, 50.0, 0.0, strategy="b", token=2))   # b: short 5 @ 50
    books.on_tick(1, 110.0, at(60))      # a +100 (less 1 commission), b 0: equity 99
    books.on_fill(fill(90, "SELL", 10, 110.0, 0.0, strategy="a", token=1))  # a flat: +99 realized
    books.on_tick(2, 60.0, at(120))      # b -50: equity 49
    books.on_fill(fill(150, "BUY", 5, 40.0, 0.0, strategy="b", token=2))   # b flat: +50 realized
    books.on_fill(fill(160, "BUY", 1, 10.0, 0.0, strategy="c", token=3, broker="zerodha"))
    books.on_tick(3, 10.0, at(180))
    paper = books.brokers()["paper"]
    assert (paper["trades"], paper["wins"], paper["fills"]) == (2, 2, 4)
    assert (paper["realized_pnl"], paper["unrealized_pnl"], paper["commissions"]) == (149.0, 0.0, 1.0)
    # Equity -1, -1, 99, 99, 49, 149: the fall from 99 to 49.
    assert paper["max_drawdown"] == 50.0
    # Some position open from 0 s to 150 s of a 180 s tape; the most held at once: 10 x 110 + 5 x 50 at 60 s.
    assert paper["exposure_time"] == pytest.approx(150 / 180, abs=1e-6)
    assert paper["max_gross_exposure"] == 1350.0
    # Bar closes -1, 99, 149 and 149 (the minute of the last tick, unchanged): returns on 1000 of
    # 10 %, 5 % and 0 %, mean 5 %, standard deviation 5 %: a Sharpe of 1 per bar, annualized.
    assert paper["sharpe"] == pytest.approx(ANNUALIZATION, abs=1e-5)
    zerodha = books.brokers()["zerodha"]
    assert zerodha["exposure_time"] == pytest.approx(20 / 180, abs=1e-6) and zerodha["max_gross_exposure"] == 10.0


def test_the_sharpe_ratio_of_one_minute_bars():
    # Bar closes 0, 10, 0, 10 on 1000 of capital: returns +1 %, -1 %, +1 %.
    returns = [0.01, -0.01, 0.01]
    mean = sum(returns) / 3
    sd = math.sqrt(sum((r - mean) ** 2 for r in returns) / 2)
    assert sharpe_ratio([0, 10, 0, 10], 1000) == pytest.approx(mean / sd * math.sqrt(252 * 375))
    assert ANNUALIZATION == pytest.approx(307.409, abs=1e-3)
    assert sharpe_ratio([0, 10], 1000) is None      # one return
    assert sharpe_ratio([5, 5, 5, 5], 1000) is None  # no variation


def test_bars_close_on_every_minute_with_a_tick_even_without_a_change():
    books = BacktestBooks({"paper": 1000.0})
    books.on_fill(fill(0, "BUY", 1, 100.0, strategy="a", token=1))
    for minute, price in enumerate([110.0, 100.0, 110.0], start=1):
        books.on_tick(2, 50.0, at(minute * 60 - 1))   # another instrument: the bar still counts
        books.on_tick(1, price, at(minute * 60 + 1))
    s = books.strategies()["a"]
    # Bars: [0:00-0:59] 0 then -> 0, [1:00] 10, [2:00] 0, [3:00] 10: the case above.
    assert s["sharpe"] == pytest.approx(round(sharpe_ratio([0, 10, 0, 10], 1000), 6))


def test_the_strategies_add_up_to_the_portfolios_own_accounting():
    rng = random.Random(11)
    books = BacktestBooks({"paper": 1_000_000.0})
    account = Account.open(1_000_000.0)
    prices = {token: 100.0 for token in (1, 2, 3)}
    for i in range(600):
        token = rng.choice((1, 2, 3))
        prices[token] = round(prices[token] * (1 + rng.uniform(-0.01, 0.01)), 2)
        if rng.random() < 0.3:
            f = fill(i, rng.choice(("BUY", "SELL")), rng.randint(1, 20), prices[token],
                     round(rng.uniform(0, 2), 2), strategy=rng.choice(("a", "b", "c")), token=token)
            books.on_fill(f)
            account, applied = account.apply_fill(f.fill_id, f.strategy_id, f.instrument_token, f.side,
                                                  f.quantity, f.price, f.commission, f.at)
            assert applied
        else:
            books.on_tick(token, prices[token], at(i))
            account = account.mark(token, prices[token], at(i))
    strategies = books.strategies()
    assert sum(s["realized_pnl"] for s in strategies.values()) == pytest.approx(account.realized_pnl, abs=1e-4)
    assert sum(s["unrealized_pnl"] for s in strategies.values()) == pytest.approx(account.unrealized_pnl, abs=1e-4)
    assert books.brokers()["paper"]["total_pnl"] == pytest.approx(account.total_pnl, abs=1e-4)
    assert sum(s["commissions"] for s in strategies.values()) == pytest.approx(
        sum(p.commissions for p in account.positions.values()), abs=1e-6)


def test_the_table_and_the_page_show_every_strategy_and_the_definitions():
    from alphapanda.backtest.report import format_table, render_html
    from alphapanda.backtest.runner import DEFINITIONS

    books = BacktestBooks({"paper": 100_000.0})
    books.on_fill(fill(0, "BUY", 10, 100.0, 1.0, strategy="alpha"))
    books.on_tick(1, 110.0, at(30))
    books.on_fill(fill(60, "SELL", 10, 105.0, 1.0, strategy="alpha"))
    books.on_fill(fill(61, "BUY", 5, 100.0, 0.0, strategy="beta<b>"))
    report = {
        "tape": "day.jsonl", "ticks": 1, "invalid_lines": 3, "fills": 3, "first_tick_at": "2026-11-23T09:15:30Z",
        "last_tick_at": "2026-11-23T09:15:30Z", "starting_cash": 100_000.0, "wall_seconds": 1.5,
        "brokers": {"paper": {"realized_pnl": 48.0, "unrealized_pnl": 0.0, "total_pnl": 48.0, "fills": 3}},
        "broker_stats": books.brokers(), "strategies": books.strategies(), "definitions": DEFINITIONS,
        "curves": books.curves(),
    }
    table = format_table(report)
    assert "3 invalid lines" in table and "alpha" in table and "beta<b>" in table
    assert "100.0%" in table  # alpha: one trade, one win
    alpha_row = next(line for line in table.splitlines() if line.startswith("alpha"))
    assert "48.00" in alpha_row and "2.00" in alpha_row
    page = render_html(report)
    assert "beta&lt;b&gt;" in page and "beta<b>" not in page  # names are escaped
    assert page.count("<svg") == 4 and "sqrt(252 x 375)" in page
