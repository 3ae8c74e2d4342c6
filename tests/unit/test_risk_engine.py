"""The risk engine, specified check by check.

Every test runs once per broker. The engine is broker-agnostic; what the parametrization shows is
that each broker's account has its own state: a :class:`Desk` holds the states of both brokers,
every test drives one of them, and the ``desk`` fixture verifies afterwards that the other
broker's state is exactly as it started.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest

from alphapanda.models import (
    OrderType,
    RejectedSignal,
    RiskCommand,
    Side,
    TradingSignal,
    TradingState,
    ValidatedSignal,
)
from alphapanda.risk import AccountRisk, InvalidLimits, RiskDecision, RiskEngine, RiskLimits, RiskReason

BROKERS = ["paper", "zerodha"]
T0 = datetime(2026, 11, 21, 9, 15, tzinfo=timezone.utc)
DAY0 = T0.date()
A, B = 256265, 408065  # instrument tokens
ENGINE = RiskEngine()


def signal(
    side: str = "BUY",
    quantity: int = 1,
    price: float = 100.0,
    token: int = A,
    seconds: float = 0.0,
    limit_price: float | None = None,
) -> TradingSignal:
    return TradingSignal(
        strategy_id="momentum_v1",
        instrument_token=token,
        signal_type=Side(side),
        quantity=quantity,
        price=price,
        timestamp=T0 + timedelta(seconds=seconds),
        order_type=OrderType.LIMIT if limit_price is not None else OrderType.MARKET,
        limit_price=limit_price,
    )


class Desk:
    """The risk states of both brokers, driven through the engine the way the risk agent does."""

    def __init__(self, limits: RiskLimits) -> None:
        self.states = {broker: AccountRisk.initial(limits) for broker in BROKERS}

    def submit(self, broker: str, sig: TradingSignal) -> RiskDecision:
        decision = ENGINE.check(sig, self.states[broker])
        self.states[broker] = decision.new_state
        return decision

    def burst(self, broker: str, *signals: TradingSignal) -> list[RiskReason | None]:
        return [self.submit(broker, s).reason_code for s in signals]

    def command(self, broker: str, action: str, at: datetime | None = None, **fields) -> AccountRisk:
        self.states[broker] = ENGINE.apply_command(self.states[broker], RiskCommand(action=action, **fields), at)
        return self.states[broker]

    def pnl(self, broker: str, realized: float, day: date = DAY0) -> AccountRisk:
        self.states[broker] = ENGINE.on_realized_pnl(self.states[broker], day, realized)
        return self.states[broker]


@pytest.fixture(params=BROKERS)
def broker(request) -> str:
    return request.param


@pytest.fixture
def desk(broker):
    """``desk(**limits)``: a Desk whose accounts have only the given limits (others off)."""
    other = next(b for b in BROKERS if b != broker)
    made: list[tuple[Desk, AccountRisk]] = []

    def make(**limits) -> Desk:
        d = Desk(RiskLimits.unlimited().merged(limits))
        made.append((d, d.states[other]))
        return d

    yield make
    for d, untouched in made:
        assert d.states[other] == untouched, f"{other}'s risk state changed while trading {broker}"


# Approval -----------------------------------------------------------------


def test_an_approved_order_is_committed_to_position_exposure_and_rate_window(desk, broker):
    d = desk(max_orders_per_minute=10)
    decision = d.submit(broker, signal(quantity=10, price=100.0))
    assert decision.approved
    assert decision.reason_code is None
    state = decision.new_state
    assert state.position(A) == 10
    assert state.gross_exposure() == 1000.0
    assert state.recent_orders == [T0]


def test_the_assessment_lists_the_checks_passed_and_the_exposure_after(desk, broker):
    d = desk(max_order_quantity=100, max_gross_exposure=1e6)
    d.submit(broker, signal(token=B, quantity=5, price=200.0))
    assessment = d.submit(broker, signal(side="SELL", quantity=3, price=100.0)).assessment
    assert assessment is not None
    assert assessment.checks == ["trading_state", "order_quantity", "gross_exposure"]
    assert assessment.position_after == -3
    assert assessment.gross_exposure_after == 5 * 200.0 + 3 * 100.0


def test_decisions_become_the_contract_payloads(desk, broker):
    d = desk(max_order_quantity=5)
    validated = d.submit(broker, signal(quantity=5)).payload()
    rejected = d.submit(broker, signal(quantity=6)).payload()
    assert isinstance(validated, ValidatedSignal) and validated.risk.position_after == 5
    assert isinstance(rejected, RejectedSignal)
    assert rejected.reason_code == "MAX_ORDER_QUANTITY_EXCEEDED"
    assert "6" in rejected.reason and "5" in rejected.reason


def test_a_rejection_changes_only_the_counters(desk, broker):
    d = desk(max_order_quantity=5, max_orders_per_minute=10)
    before = d.submit(broker, signal(quantity=5)).new_state
    after = d.submit(broker, signal(quantity=6, seconds=1)).new_state
    assert after.model_copy(update={"counters": before.counters}) == before
    assert after.counters.rejected == {"MAX_ORDER_QUANTITY_EXCEEDED": 1}
    assert after.counters.signals == 2 and after.counters.approved == 1


def test_check_never_mutates_the_state_it_is_given(desk, broker):
    d = desk(max_position_quantity=100, max_orders_per_minute=10)
    d.submit(broker, signal(quantity=10))
    state = d.states[broker]
    snapshot = state.to_dict()
    ENGINE.check(signal(quantity=10, token=B, seconds=1), state)
    ENGINE.check(signal(quantity=1000, seconds=2), state)
    assert state.to_dict() == snapshot


# Trading state ----------------------------------------------------------------


def test_a_halted_account_rejects_every_signal(desk, broker):
    d = desk()
    d.submit(broker, signal(quantity=10))
    d.command(broker, "halt", reason="market data outage")
    for sig in (signal(quantity=1), signal(side="SELL", quantity=5)):
        decision = d.submit(broker, sig)
        assert decision.reason_code is RiskReason.TRADING_HALTED
        assert "market data outage" in decision.reason


def test_halting_one_broker_leaves_the_other_trading(broker):
    other = next(b for b in BROKERS if b != broker)
    d = Desk(RiskLimits())
    d.command(broker, "halt")
    assert d.submit(broker, signal()).reason_code is RiskReason.TRADING_HALTED
    assert d.submit(other, signal()).approved
    assert d.states[other].trading_state is TradingState.ACTIVE


def test_resume_makes_a_halted_account_trade_again(desk, broker):
    d = desk()
    d.command(broker, "halt")
    assert d.command(broker, "resume").trading_state is TradingState.ACTIVE
    assert d.submit(broker, signal()).approved


@pytest.mark.parametrize(
    "opening, closing",
    [(("BUY", 10), ("SELL", 4)), (("BUY", 10), ("SELL", 10)), (("SELL", 10), ("BUY", 3))],
    ids=["long-partly", "long-fully", "short-partly"],
)
def test_reducing_accepts_an_order_that_shrinks_the_position(desk, broker, opening, closing):
    d = desk()
    d.submit(broker, signal(side=opening[0], quantity=opening[1]))
    d.command(broker, "reduce")
    assert d.submit(broker, signal(side=closing[0], quantity=closing[1], seconds=1)).approved


@pytest.mark.parametrize(
    "order",
    [("BUY", 1), ("SELL", 11), ("SELL", 20)],
    ids=["increasing", "flipping", "flipping-far"],
)
def test_reducing_rejects_an_order_that_grows_or_flips_the_position(desk, broker, order):
    d = desk()
    d.submit(broker, signal(quantity=10))
    d.command(broker, "reduce")
    decision = d.submit(broker, signal(side=order[0], quantity=order[1], seconds=1))
    assert decision.reason_code is RiskReason.TRADING_STATE_REDUCING


def test_reducing_rejects_opening_a_position_on_a_flat_instrument(desk, broker):
    d = desk()
    d.submit(broker, signal(quantity=10))
    d.command(broker, "reduce")
    assert d.submit(broker, signal(token=B, side="SELL", quantity=1)).reason_code is RiskReason.TRADING_STATE_REDUCING


def test_reducing_counts_pending_orders_so_two_sells_cannot_flip_jointly(desk, broker):
    d = desk()
    d.submit(broker, signal(quantity=10))
    d.command(broker, "reduce")
    codes = d.burst(broker, signal(side="SELL", quantity=6), signal(side="SELL", quantity=6))
    assert codes == [None, RiskReason.TRADING_STATE_REDUCING]


# Daily loss ----------------------------------------------------------------------


def test_a_loss_equal_to_the_daily_limit_still_trades(desk, broker):
    d = desk(daily_loss_limit=1000)
    assert d.pnl(broker, -1000.0).trading_state is TradingState.ACTIVE
    assert d.submit(broker, signal()).approved


def test_a_pnl_snapshot_beyond_the_daily_loss_limit_halts_the_account(desk, broker):
    d = desk(daily_loss_limit=1000)
    state = d.pnl(broker, -1000.01)
    assert state.trading_state is TradingState.HALTED
    assert "-1,000.01" in state.halted_reason
    assert d.submit(broker, signal()).reason_code is RiskReason.TRADING_HALTED


def test_a_breach_found_at_check_time_rejects_and_halts(desk, broker):
    d = desk(daily_loss_limit=1000)
    d.pnl(broker, -600.0)
    d.command(broker, "set_limits", limits={"daily_loss_limit": 500})
    decision = d.submit(broker, signal())
    assert decision.reason_code is RiskReason.DAILY_LOSS_LIMIT_REACHED
    assert "-600.00" in decision.reason and "500" in decision.reason
    assert decision.new_state.trading_state is TradingState.HALTED
    assert d.submit(broker, signal(seconds=1)).reason_code is RiskReason.TRADING_HALTED


def test_a_previous_days_loss_does_not_count_on_a_new_day(broker):
    state = AccountRisk(
        limits=RiskLimits.unlimited().merged({"daily_loss_limit": 500}), pnl_day=DAY0, realized_pnl_today=-600.0
    )
    assert ENGINE.check(signal(seconds=86_400), state).approved
    assert ENGINE.check(signal(), state).reason_code is RiskReason.DAILY_LOSS_LIMIT_REACHED


def test_a_stale_pnl_snapshot_is_ignored(desk, broker):
    d = desk(daily_loss_limit=1000)
    d.pnl(broker, -10.0, day=DAY0 + timedelta(days=1))
    state = d.pnl(broker, -5000.0, day=DAY0)
    assert state.trading_state is TradingState.ACTIVE
    assert state.realized_pnl_today == -10.0


def test_resume_is_refused_while_the_daily_loss_is_breached(desk, broker):
    d = desk(daily_loss_limit=1000)
    halted = d.pnl(broker, -2000.0)
    assert d.command(broker, "resume", at=T0 + timedelta(hours=1)) == halted


def test_resume_clears_a_daily_loss_halt_on_a_later_day(desk, broker):
    d = desk(daily_loss_limit=1000)
    d.pnl(broker, -2000.0)
    state = d.command(broker, "resume", at=T0 + timedelta(days=1))
    assert state.trading_state is TradingState.ACTIVE
    assert state.realized_pnl_today == 0.0
    assert d.submit(broker, signal(seconds=86_400)).approved


def test_resume_clears_a_daily_loss_halt_once_the_limit_is_raised(desk, broker):
    d = desk(daily_loss_limit=1000)
    d.pnl(broker, -2000.0)
    d.command(broker, "set_limits", limits={"daily_loss_limit": 5000})
    assert d.command(broker, "resume").trading_state is TradingState.ACTIVE
    assert d.submit(broker, signal()).approved


def test_reduce_after_a_daily_loss_halt_lets_the_book_be_flattened(desk, broker):
    d = desk(daily_loss_limit=1000)
    d.submit(broker, signal(quantity=10))
    d.pnl(broker, -2000.0)
    d.command(broker, "reduce")
    assert d.submit(broker, signal(side="SELL", quantity=10, seconds=1)).approved
    assert d.pnl(broker, -2100.0).trading_state is TradingState.REDUCING


# Instruments ------------------------------------------------------------------------


def test_a_denied_instrument_is_rejected(desk, broker):
    d = desk(denied_instruments=[B])
    assert d.submit(broker, signal(token=B)).reason_code is RiskReason.INSTRUMENT_NOT_ALLOWED
    assert d.submit(broker, signal(token=A)).approved


def test_an_instrument_outside_the_allow_list_is_rejected(desk, broker):
    d = desk(allowed_instruments=[A])
    assert d.submit(broker, signal(token=A)).approved
    assert d.submit(broker, signal(token=B)).reason_code is RiskReason.INSTRUMENT_NOT_ALLOWED


# Order size ----------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["BUY", "SELL"])
def test_order_quantity_at_the_limit_passes_and_one_more_is_rejected(desk, broker, side):
    d = desk(max_order_quantity=50)
    assert d.submit(broker, signal(side=side, quantity=49)).approved
    assert d.submit(broker, signal(side=side, quantity=50)).approved
    assert d.submit(broker, signal(side=side, quantity=51)).reason_code is RiskReason.MAX_ORDER_QUANTITY_EXCEEDED


def test_order_notional_at_the_limit_passes_and_beyond_is_rejected(desk, broker):
    d = desk(max_order_notional=1000)
    assert d.submit(broker, signal(quantity=10, price=99.99)).approved
    assert d.submit(broker, signal(quantity=10, price=100.0)).approved
    decision = d.submit(broker, signal(quantity=10, price=100.01))
    assert decision.reason_code is RiskReason.MAX_ORDER_NOTIONAL_EXCEEDED
    assert "1,000.10" in decision.reason


def test_order_notional_at_the_limit_is_not_rejected_by_float_rounding(desk, broker):
    d = desk(max_order_notional=915.3)
    assert 9 * 101.7 > 915.3  # the float product overshoots the decimal limit
    assert d.submit(broker, signal(quantity=9, price=101.7)).approved


def test_a_limit_orders_notional_uses_its_limit_price(desk, broker):
    d = desk(max_order_notional=1000)
    assert d.submit(broker, signal(quantity=10, price=90.0, limit_price=100.0)).approved
    rejected = d.submit(broker, signal(quantity=10, price=90.0, limit_price=101.0))
    assert rejected.reason_code is RiskReason.MAX_ORDER_NOTIONAL_EXCEEDED


# Position --------------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["BUY", "SELL"])
def test_position_up_to_the_limit_passes_and_beyond_is_rejected(desk, broker, side):
    d = desk(max_position_quantity=100)
    assert d.submit(broker, signal(side=side, quantity=99)).approved
    assert d.submit(broker, signal(side=side, quantity=1)).approved
    assert d.submit(broker, signal(side=side, quantity=1)).reason_code is RiskReason.MAX_POSITION_EXCEEDED


def test_a_burst_that_jointly_breaches_the_position_limit_gets_exactly_the_excess_rejected(desk, broker):
    d = desk(max_position_quantity=100)
    codes = d.burst(broker, *(signal(quantity=30, seconds=i) for i in range(5)))
    assert codes == [None, None, None, RiskReason.MAX_POSITION_EXCEEDED, RiskReason.MAX_POSITION_EXCEEDED]
    assert d.submit(broker, signal(quantity=10)).approved
    assert d.states[broker].position(A) == 100


def test_the_position_limit_is_per_instrument(desk, broker):
    d = desk(max_position_quantity=100)
    assert d.burst(broker, signal(token=A, quantity=100), signal(token=B, quantity=100)) == [None, None]


def test_an_order_that_lowers_a_position_above_a_lowered_limit_passes(desk, broker):
    d = desk(max_position_quantity=100)
    d.submit(broker, signal(quantity=100))
    d.command(broker, "set_limits", limits={"max_position_quantity": 10})
    assert d.submit(broker, signal(side="SELL", quantity=50)).approved
    assert d.submit(broker, signal(quantity=1)).reason_code is RiskReason.MAX_POSITION_EXCEEDED


# Gross exposure ------------------------------------------------------------------------------


def test_gross_exposure_up_to_the_limit_passes_and_beyond_is_rejected(desk, broker):
    d = desk(max_gross_exposure=10_000)
    assert d.submit(broker, signal(quantity=50, price=100.0)).approved
    assert d.submit(broker, signal(token=B, side="SELL", quantity=25, price=200.0)).approved  # 5000 + 5000
    decision = d.submit(broker, signal(token=B, side="SELL", quantity=1, price=200.0))
    assert decision.reason_code is RiskReason.MAX_GROSS_EXPOSURE_EXCEEDED
    assert "10,200.00" in decision.reason


def test_a_burst_across_instruments_that_jointly_breaches_gross_exposure(desk, broker):
    d = desk(max_gross_exposure=10_000)
    codes = d.burst(
        broker,
        signal(token=A, quantity=40, price=100.0),  # 4000
        signal(token=B, quantity=20, price=200.0),  # 8000
        signal(token=A, quantity=20, price=100.0),  # 10000: at the limit
        signal(token=B, quantity=1, price=200.0),  # 10200
        signal(token=A, side="SELL", quantity=10, price=100.0),  # 9000: lowers it
        signal(token=B, quantity=5, price=200.0),  # 10000 again
    )
    assert codes == [None, None, None, RiskReason.MAX_GROSS_EXPOSURE_EXCEEDED, None, None]
    assert d.states[broker].gross_exposure() == 10_000


def test_an_order_that_lowers_gross_exposure_above_a_lowered_limit_passes(desk, broker):
    d = desk(max_gross_exposure=10_000)
    d.burst(broker, signal(token=A, quantity=50, price=100.0), signal(token=B, quantity=25, price=200.0))
    d.command(broker, "set_limits", limits={"max_gross_exposure": 1_000})
    assert d.submit(broker, signal(token=B, side="SELL", quantity=5, price=200.0)).approved
    rejected = d.submit(broker, signal(token=A, quantity=1, price=100.0))
    assert rejected.reason_code is RiskReason.MAX_GROSS_EXPOSURE_EXCEEDED


def test_gross_exposure_marks_the_instrument_at_the_signals_price(desk, broker):
    d = desk(max_gross_exposure=10_000)
    d.submit(broker, signal(quantity=90, price=100.0))
    # Same 90 units, now worth 110 each: 9900 + 110 > 10000.
    assert d.submit(broker, signal(quantity=1, price=110.0)).reason_code is RiskReason.MAX_GROSS_EXPOSURE_EXCEEDED


# Rate ---------------------------------------------------------------------------------------------


def test_orders_up_to_the_rate_limit_pass_and_the_next_is_rejected(desk, broker):
    d = desk(max_orders_per_minute=3)
    codes = d.burst(broker, *(signal(seconds=s) for s in (0, 10, 20, 30)))
    assert codes == [None, None, None, RiskReason.RATE_LIMIT_EXCEEDED]


def test_signals_61_seconds_apart_pass_a_limit_of_one_per_minute(desk, broker):
    d = desk(max_orders_per_minute=1)
    assert d.burst(broker, signal(seconds=0), signal(seconds=61), signal(seconds=122)) == [None, None, None]


def test_the_rate_window_is_event_time_not_arrival_time(desk, broker):
    d = desk(max_orders_per_minute=1)
    # Processed back to back, but 59 s apart in event time: still within one window.
    assert d.burst(broker, signal(seconds=0), signal(seconds=59)) == [None, RiskReason.RATE_LIMIT_EXCEEDED]


def test_rejected_signals_do_not_use_up_the_rate_limit(desk, broker):
    d = desk(max_orders_per_minute=1, max_order_quantity=5)
    assert d.burst(broker, signal(quantity=6), signal(quantity=5, seconds=1)) == [
        RiskReason.MAX_ORDER_QUANTITY_EXCEEDED,
        None,
    ]


def test_the_rate_window_keeps_no_more_order_times_than_the_limit(desk, broker):
    d = desk(max_orders_per_minute=5)
    d.burst(broker, *(signal(seconds=i) for i in range(5)))
    assert len(d.states[broker].recent_orders) == 5
    d.burst(broker, *(signal(seconds=100 + i) for i in range(5)))
    assert d.states[broker].recent_orders == [T0 + timedelta(seconds=100 + i) for i in range(5)]


def test_the_rate_window_forgets_orders_older_than_a_minute(desk, broker):
    d = desk(max_orders_per_minute=5)
    d.burst(broker, *(signal(seconds=30 * i) for i in range(10)))
    assert d.states[broker].recent_orders == [T0 + timedelta(seconds=240), T0 + timedelta(seconds=270)]


def test_without_a_rate_limit_no_order_times_are_kept(desk, broker):
    d = desk()
    d.burst(broker, signal(), signal(seconds=1))
    assert d.states[broker].recent_orders == []


# Commands ------------------------------------------------------------------------------------------------


def test_set_limits_by_command_applies_to_the_next_signal(desk, broker):
    d = desk(max_order_quantity=100)
    assert d.submit(broker, signal(quantity=50)).approved
    d.command(broker, "set_limits", limits={"max_order_quantity": 10})
    assert d.submit(broker, signal(quantity=50)).reason_code is RiskReason.MAX_ORDER_QUANTITY_EXCEEDED
    assert d.submit(broker, signal(quantity=10)).approved


def test_set_limits_with_an_unknown_field_fails_naming_it_and_changes_nothing(desk, broker):
    d = desk(max_order_quantity=100)
    before = d.states[broker]
    with pytest.raises(InvalidLimits, match="max_order_qty"):
        d.command(broker, "set_limits", limits={"max_order_qty": 5})
    assert d.states[broker] == before


def test_lowering_the_rate_limit_trims_the_remembered_orders(desk, broker):
    d = desk(max_orders_per_minute=10)
    d.burst(broker, *(signal(seconds=i) for i in range(6)))
    assert len(d.command(broker, "set_limits", limits={"max_orders_per_minute": 2}).recent_orders) == 2
    assert d.submit(broker, signal(seconds=7)).reason_code is RiskReason.RATE_LIMIT_EXCEEDED


# Order outcomes --------------------------------------------------------------------------------------------


def test_an_order_failure_releases_its_committed_exposure(desk, broker):
    d = desk(max_position_quantity=10, max_gross_exposure=1000)
    d.submit(broker, signal(quantity=10, price=100.0))
    assert d.submit(broker, signal(quantity=10, price=100.0)).reason_code is RiskReason.MAX_POSITION_EXCEEDED
    d.states[broker] = ENGINE.on_order_failed(d.states[broker], A, +10)
    assert d.states[broker].position(A) == 0
    assert d.states[broker].gross_exposure() == 0
    assert d.submit(broker, signal(quantity=10, price=100.0)).approved


def test_a_failed_sell_releases_its_short_commitment(desk, broker):
    d = desk()
    d.submit(broker, signal(quantity=10))
    d.submit(broker, signal(side="SELL", quantity=4))
    state = ENGINE.on_order_failed(d.states[broker], A, -4)
    assert state.position(A) == 10


def test_a_fill_keeps_the_committed_position_and_marks_the_exposure_at_the_fill_price(desk, broker):
    d = desk()
    d.submit(broker, signal(quantity=10, price=100.0))
    state = ENGINE.on_fill(d.states[broker], A, +10, 101.5)
    assert state.position(A) == 10
    assert state.gross_exposure() == 1015.0
    assert state.counters.fills == 1


def test_a_fill_of_a_flat_instrument_keeps_no_price(desk, broker):
    d = desk()
    d.burst(broker, signal(quantity=10), signal(side="SELL", quantity=10))
    state = ENGINE.on_fill(d.states[broker], A, -10, 99.0)
    assert state.positions == {} and state.prices == {}


# Serialization ------------------------------------------------------------------------------------------------


def test_account_risk_survives_a_json_round_trip_unchanged(desk, broker):
    d = desk(max_orders_per_minute=10, max_order_notional=2500.5, denied_instruments=[99], daily_loss_limit=1000)
    d.burst(
        broker,
        signal(quantity=10, price=100.25),
        signal(token=B, side="SELL", quantity=3, price=2000.0, seconds=1.5),
        signal(quantity=1000, seconds=2),
    )
    d.states[broker] = ENGINE.on_fill(d.states[broker], A, 10, 100.3)
    d.pnl(broker, -1500.75)
    state = d.states[broker]
    assert state.trading_state is TradingState.HALTED
    restored = AccountRisk.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored == state
    assert restored.to_dict() == state.to_dict()


def test_a_new_account_is_active_and_flat_under_the_default_limits():
    state = AccountRisk.initial()
    assert state.trading_state is TradingState.ACTIVE
    assert state.positions == {} and state.gross_exposure() == 0
    assert state.limits == RiskLimits()


def test_exposure_view_reports_positions_and_gross_exposure(desk, broker):
    d = desk()
    d.burst(broker, signal(quantity=10, price=100.0), signal(token=B, side="SELL", quantity=2, price=50.0))
    view = d.states[broker].exposure_view()
    assert view["gross_exposure"] == 1100.0
    assert view["positions"][str(B)] == {"quantity": -2, "price": 50.0, "notional": 100.0}
    json.dumps(view)
