"""Properties of the books that must hold for any sequence of fills.

The reference is the mark-to-market of the fills themselves: what was paid and received, plus
what is still held at the final price, less commissions. Positions must agree with it whatever
the path (adds, partial closes, flips, shorts), within float tolerance.
"""

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from alphapanda.models import Side
from alphapanda.portfolio import Account, Position

T0 = datetime(2026, 11, 21, 3, 45, tzinfo=UTC)
TOKENS = (256265, 408065)


@dataclass(frozen=True)
class F:
    fill_id: str
    strategy_id: str
    instrument_token: int
    side: Side
    quantity: int
    price: float
    commission: float
    timestamp: datetime

    @property
    def signed(self) -> int:
        return self.side.sign * self.quantity


prices = st.one_of(
    st.integers(1, 10_000_000).map(lambda paise: paise / 100),  # exchange prices in paise
    st.floats(0.01, 100_000.0, allow_nan=False, allow_infinity=False),
)
commissions = st.one_of(st.just(0.0), st.floats(0.0, 500.0, allow_nan=False))


@st.composite
def fill_sequences(draw, max_size=40):
    raw = draw(st.lists(st.tuples(
        st.sampled_from(("a", "b")), st.sampled_from(TOKENS), st.sampled_from(list(Side)),
        st.integers(1, 10_000), prices, commissions, st.integers(0, 5 * 24 * 3600),
    ), max_size=max_size))
    return [F(f"fill-{i}", s, t, side, q, p, c, T0 + timedelta(seconds=sec))
            for i, (s, t, side, q, p, c, sec) in enumerate(raw)]


def tolerance(fills) -> float:
    """Float error grows with the money moved; 1e-9 relative is far above double rounding."""
    return 1e-6 + 1e-9 * math.fsum(f.quantity * f.price + f.commission for f in fills)


def replay(account: Account, fills) -> Account:
    for f in fills:
        account, _ = account.apply_fill(f.fill_id, f.strategy_id, f.instrument_token, f.side,
                                        f.quantity, f.price, f.commission, f.timestamp)
    return account


def mark_all(account: Account, marks: dict[int, float]) -> Account:
    for token, price in marks.items():
        account = account.mark(token, price)
    return account


@given(fills=fill_sequences(), mark=prices)
def test_position_pnl_equals_the_mark_to_market_of_its_fills(fills, mark):
    fills = [f for f in fills if (f.strategy_id, f.instrument_token) == ("a", TOKENS[0])]
    position = Position("a", TOKENS[0])
    for f in fills:
        position = position.apply_fill(f.side, f.quantity, f.price, f.commission)
    position = position.mark(mark)

    quantity = sum(f.signed for f in fills)
    expected = math.fsum([-f.signed * f.price for f in fills]
                         + [quantity * mark]
                         + [-f.commission for f in fills])
    assert math.isclose(position.realized_pnl + position.unrealized_pnl, expected,
                        rel_tol=0, abs_tol=tolerance(fills) + abs(quantity * mark) * 1e-12)


@given(fills=fill_sequences())
def test_quantity_is_the_signed_sum_of_fill_quantities(fills):
    account = replay(Account.open(0.0), fills)
    for key, position in account.positions.items():
        assert position.quantity == sum(
            f.signed for f in fills if (f.strategy_id, f.instrument_token) == key)
        assert position.fills == sum(
            1 for f in fills if (f.strategy_id, f.instrument_token) == key)


@given(fills=fill_sequences())
def test_the_average_price_lies_within_the_prices_that_built_the_position(fills):
    position = Position("a", 1)
    for f in fills:
        position = position.apply_fill(f.side, f.quantity, f.price, f.commission)
        if position.is_flat:
            assert position.average_price == 0.0
        else:
            low = min(x.price for x in fills)
            high = max(x.price for x in fills)
            assert low * (1 - 1e-12) <= position.average_price <= high * (1 + 1e-12)


@given(fills=fill_sequences(), marks=st.fixed_dictionaries({t: prices for t in TOKENS}),
       starting_cash=st.floats(0.0, 1e7, allow_nan=False))
def test_equity_less_starting_cash_is_total_pnl(fills, marks, starting_cash):
    account = mark_all(replay(Account.open(starting_cash), fills), marks)
    held = math.fsum(abs(p.quantity) * (p.last_price or 0.0) for p in account.positions.values())
    assert math.isclose(account.equity - account.starting_cash, account.total_pnl,
                        rel_tol=0, abs_tol=tolerance(fills) + held * 1e-12 + starting_cash * 1e-15)


@given(fills=fill_sequences())
def test_cash_moves_by_the_signed_notional_and_commissions_of_the_fills(fills):
    account = replay(Account.open(1_000.0), fills)
    expected = math.fsum([1_000.0] + [-f.signed * f.price - f.commission for f in fills])
    assert math.isclose(account.cash, expected, rel_tol=0, abs_tol=tolerance(fills))


@given(fills=fill_sequences())
def test_realized_pnl_by_day_adds_up_to_the_realized_pnl(fills):
    account = replay(Account.open(0.0), fills)
    days = {f.timestamp.date() for f in fills}
    by_day = math.fsum(account.realized_pnl_today(d) for d in days)
    assert math.isclose(by_day, account.realized_pnl, rel_tol=0, abs_tol=tolerance(fills))


@settings(max_examples=200)
@given(data=st.data(), fills=fill_sequences(max_size=25))
def test_duplicates_anywhere_after_the_original_change_nothing(data, fills):
    with_duplicates = list(fills)
    for f in fills:
        copies = data.draw(st.integers(0, 2))
        for _ in range(copies):
            # A redelivery comes after the original, possibly altered by a buggy producer.
            position = with_duplicates.index(f) + 1
            at = data.draw(st.integers(position, len(with_duplicates)))
            altered = data.draw(st.booleans())
            copy = F(f.fill_id, f.strategy_id, f.instrument_token,
                     Side.SELL if altered else f.side, f.quantity + int(altered), f.price,
                     f.commission, f.timestamp + timedelta(days=int(altered)))
            with_duplicates.insert(at, copy)

    clean = replay(Account.open(10_000.0), fills)
    noisy = replay(Account.open(10_000.0), with_duplicates)
    assert noisy.to_dict() == clean.to_dict()
    assert noisy.fills_applied == len(fills)


@given(fills=fill_sequences(), marks=st.fixed_dictionaries({t: prices for t in TOKENS}))
def test_state_survives_a_json_round_trip_at_any_point(fills, marks):
    account = mark_all(replay(Account.open(5_000.0), fills), marks)
    restored = Account.from_dict(json.loads(json.dumps(account.to_dict())))
    assert restored == account
    assert restored.summary("paper") == account.summary("paper")
