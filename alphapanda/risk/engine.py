"""The pre-trade risk engine: pure functions from (event, account state) to a new account state.

The engine knows nothing of Kafka, brokers or tables. The risk agent keeps one
:class:`~alphapanda.risk.state.AccountRisk` per account and feeds it every signal, control command,
order failure, fill and PnL snapshot of that account, in partition order; the engine answers with
a decision and/or the next state. Time is always event time (the signal's timestamp, the PnL day),
so a replayed tape gets the same decisions.

Checks on a signal, in this order; the first failure decides the reason code:

1. trading state: HALTED rejects everything (``TRADING_HALTED``); REDUCING passes only orders
   that shrink the committed |position| without flipping its sign (``TRADING_STATE_REDUCING``).
2. daily loss (ACTIVE only): the day's realized PnL below ``-daily_loss_limit`` rejects
   (``DAILY_LOSS_LIMIT_REACHED``) and halts the account. REDUCING is exempt so an operator can
   flatten the book after a loss halt by sending ``reduce``.
3. instrument: on the deny list, or not on a configured allow list (``INSTRUMENT_NOT_ALLOWED``).
4. order quantity (``MAX_ORDER_QUANTITY_EXCEEDED``).
5. order notional: quantity x price, x limit price for LIMIT orders (``MAX_ORDER_NOTIONAL_EXCEEDED``).
6. net position of the instrument after the order (``MAX_POSITION_EXCEEDED``).
7. account gross exposure after the order: sum of |committed position| x exposure price, with
   this instrument at the signal's reference price (``MAX_GROSS_EXPOSURE_EXCEEDED``).
8. rate: approved orders in the 60 s of event time before the signal, ``(t - 60 s, t]``; as many
   as the limit already rejects (``RATE_LIMIT_EXCEEDED``).

Limits are inclusive (a value equal to the limit passes). Position and gross exposure never
reject an order that lowers them, so lowering a limit below the current book cannot trap it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from alphapanda.models import (
    OrderType,
    RejectedSignal,
    RiskAssessment,
    RiskCommand,
    TradingSignal,
    TradingState,
    ValidatedSignal,
)
from alphapanda.risk.reason_codes import RiskReason
from alphapanda.risk.state import AccountRisk, RiskCounters

__all__ = ["RiskEngine", "RiskDecision", "RATE_WINDOW", "CHECKS"]

RATE_WINDOW = timedelta(seconds=60)

# Names of the checks, as listed in RiskAssessment.checks of an approved signal.
CHECKS = (
    "trading_state",
    "daily_loss",
    "instrument",
    "order_quantity",
    "order_notional",
    "position",
    "gross_exposure",
    "rate",
)

# Quantity x price in floats is not exact: an order at the limit must not fail on rounding.
_RELATIVE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class RiskDecision:
    """The engine's answer to one signal.

    ``new_state`` is the state to store: on approval the order is committed to the position,
    exposure and rate window; on rejection only the counters change (and, for a daily-loss
    breach, the trading state becomes HALTED). ``assessment`` is set for approvals only.
    """

    signal: TradingSignal
    approved: bool
    new_state: AccountRisk
    reason_code: RiskReason | None = None
    reason: str = ""
    assessment: RiskAssessment | None = field(default=None)

    def payload(self) -> ValidatedSignal | RejectedSignal:
        """The ``validated_signal`` or ``rejected_signal`` payload to publish."""
        if self.approved:
            assert self.assessment is not None
            return ValidatedSignal(signal=self.signal, risk=self.assessment)
        assert self.reason_code is not None
        return RejectedSignal(signal=self.signal, reason_code=self.reason_code.value, reason=self.reason)


@dataclass(frozen=True)
class RiskEngine:
    """Pre-trade checks and the state transitions of one account's risk state.

    Parameters:
        rate_window: the event-time window of ``max_orders_per_minute`` (default 60 s).
    """

    rate_window: timedelta = RATE_WINDOW

    # Signals -------------------------------------------------------------

    def check(self, signal: TradingSignal, state: AccountRisk) -> RiskDecision:
        """Approve or reject ``signal`` for the account whose risk state is ``state``."""
        limits = state.limits
        token = signal.instrument_token
        at = signal.timestamp.astimezone(timezone.utc)
        before = state.position(token)
        after = before + signal.signed_quantity
        passed: list[str] = []

        def reject(code: RiskReason, reason: str, **changes: object) -> RiskDecision:
            counters = _count_rejection(state.counters, code)
            new_state = state.model_copy(update={**changes, "counters": counters})
            return RiskDecision(signal, False, new_state, code, reason)

        # 1. trading state
        if state.trading_state is TradingState.HALTED:
            return reject(RiskReason.TRADING_HALTED, f"trading is halted: {state.halted_reason or 'no reason given'}")
        if state.trading_state is TradingState.REDUCING and not _reduces(before, after):
            return reject(
                RiskReason.TRADING_STATE_REDUCING,
                f"trading is REDUCING: only orders that reduce a position without flipping it pass; "
                f"instrument {token} position {before} would become {after}",
            )
        passed.append("trading_state")

        # 2. daily loss
        if state.trading_state is TradingState.ACTIVE and limits.daily_loss_limit is not None:
            if state.daily_loss_breached(at.date()):
                reason = _daily_loss_reason(state)
                return reject(
                    RiskReason.DAILY_LOSS_LIMIT_REACHED,
                    reason,
                    trading_state=TradingState.HALTED,
                    halted_reason=reason,
                )
            passed.append("daily_loss")

        # 3. instrument
        if token in limits.denied_instruments:
            return reject(RiskReason.INSTRUMENT_NOT_ALLOWED, f"instrument {token} is on the deny list")
        if limits.allowed_instruments is not None and token not in limits.allowed_instruments:
            return reject(RiskReason.INSTRUMENT_NOT_ALLOWED, f"instrument {token} is not on the allow list")
        if limits.denied_instruments or limits.allowed_instruments is not None:
            passed.append("instrument")

        # 4. order quantity
        if limits.max_order_quantity is not None:
            if _exceeds(signal.quantity, limits.max_order_quantity):
                return reject(
                    RiskReason.MAX_ORDER_QUANTITY_EXCEEDED,
                    f"order quantity {signal.quantity} exceeds max_order_quantity {limits.max_order_quantity}",
                )
            passed.append("order_quantity")

        # 5. order notional
        if limits.max_order_notional is not None:
            order_price = signal.limit_price if signal.order_type is OrderType.LIMIT else signal.price
            assert order_price is not None  # TradingSignal requires a limit price for LIMIT orders
            notional = signal.quantity * order_price
            if _exceeds(notional, limits.max_order_notional):
                return reject(
                    RiskReason.MAX_ORDER_NOTIONAL_EXCEEDED,
                    f"order notional {notional:,.2f} ({signal.quantity} x {order_price:g}) exceeds "
                    f"max_order_notional {limits.max_order_notional:,}",
                )
            passed.append("order_notional")

        # 6. position after the order
        if limits.max_position_quantity is not None:
            if _exceeds(abs(after), limits.max_position_quantity) and abs(after) > abs(before):
                return reject(
                    RiskReason.MAX_POSITION_EXCEEDED,
                    f"instrument {token} position {before} would become {after}, beyond "
                    f"max_position_quantity {limits.max_position_quantity} (includes unfilled orders)",
                )
            passed.append("position")

        # 7. gross exposure after the order
        positions_after = _with_position(state.positions, token, after)
        prices_after = _prices_for(positions_after, {**state.prices, token: signal.price})
        gross_before = _gross(state.positions, {**state.prices, token: signal.price})
        gross_after = _gross(positions_after, prices_after)
        if limits.max_gross_exposure is not None:
            if _exceeds(gross_after, limits.max_gross_exposure) and gross_after > gross_before:
                return reject(
                    RiskReason.MAX_GROSS_EXPOSURE_EXCEEDED,
                    f"gross exposure would be {gross_after:,.2f} (now {gross_before:,.2f}), beyond "
                    f"max_gross_exposure {limits.max_gross_exposure:,} (includes unfilled orders)",
                )
            passed.append("gross_exposure")

        # 8. rate, in event time
        if limits.max_orders_per_minute is not None:
            recent = state.orders_since(at - self.rate_window)
            if recent >= limits.max_orders_per_minute:
                return reject(
                    RiskReason.RATE_LIMIT_EXCEEDED,
                    f"{recent} orders in the {self.rate_window.total_seconds():g} s before {at.isoformat()} "
                    f"reach max_orders_per_minute {limits.max_orders_per_minute}",
                )
            passed.append("rate")

        new_state = state.model_copy(
            update={
                "positions": positions_after,
                "prices": prices_after,
                "recent_orders": self._remember(state.recent_orders, at, limits.max_orders_per_minute),
                "counters": state.counters.model_copy(
                    update={"signals": state.counters.signals + 1, "approved": state.counters.approved + 1}
                ),
            }
        )
        assessment = RiskAssessment(checks=passed, position_after=after, gross_exposure_after=gross_after)
        return RiskDecision(signal, True, new_state, assessment=assessment)

    # Control commands ----------------------------------------------------

    def apply_command(self, state: AccountRisk, command: RiskCommand, at: datetime | None = None) -> AccountRisk:
        """The state after an operator command (set_limits / halt / reduce / resume).

        ``at`` is the command's event time. ``resume`` makes the account ACTIVE unless the day's
        realized PnL still breaches the daily loss limit; then the state is returned unchanged.
        A daily-loss halt can therefore be resumed once the limit is raised or removed, or on a
        later UTC day: when ``at`` falls on a day after the reported PnL day, the day's realized
        PnL starts again at 0.

        Raises :class:`~alphapanda.risk.limits.InvalidLimits` for a bad ``set_limits`` patch.
        """
        match command.action:
            case "set_limits":
                limits = state.limits.merged(command.limits)
                recent = self._bounded(state.recent_orders, limits.max_orders_per_minute)
                return state.model_copy(update={"limits": limits, "recent_orders": recent})
            case "halt":
                reason = command.reason or "halted by operator"
                return state.model_copy(update={"trading_state": TradingState.HALTED, "halted_reason": reason})
            case "reduce":
                reason = command.reason or "reducing by operator"
                return state.model_copy(update={"trading_state": TradingState.REDUCING, "halted_reason": reason})
            case "resume":
                if at is not None:
                    state = _roll_day(state, at.astimezone(timezone.utc).date())
                if state.daily_loss_breached():
                    return state
                return state.model_copy(update={"trading_state": TradingState.ACTIVE, "halted_reason": None})
        raise ValueError(f"unknown risk command {command.action!r}")  # pragma: no cover - Literal-typed

    # Order outcomes and PnL ----------------------------------------------

    def on_order_failed(self, state: AccountRisk, instrument_token: int, signed_quantity: int) -> AccountRisk:
        """Release the committed exposure of an approved order that will never fill.

        ``signed_quantity`` is the unfilled part (+ buy, - sell). The caller deduplicates by
        order id: releasing the same order twice would release it twice.
        """
        after = state.position(instrument_token) - signed_quantity
        positions = _with_position(state.positions, instrument_token, after)
        return state.model_copy(
            update={
                "positions": positions,
                "prices": _prices_for(positions, state.prices),
                "counters": state.counters.model_copy(update={"failures": state.counters.failures + 1}),
            }
        )

    def on_fill(self, state: AccountRisk, instrument_token: int, signed_quantity: int, price: float) -> AccountRisk:
        """Mark the instrument's exposure at the fill price.

        The committed position does not change: the order was committed when it was approved,
        so ``signed_quantity`` is taken for the caller's convenience (it passes the fill as it
        is) and does not move the position.
        """
        prices = state.prices
        if instrument_token in state.positions:
            prices = {**state.prices, instrument_token: price}
        return state.model_copy(
            update={"prices": prices, "counters": state.counters.model_copy(update={"fills": state.counters.fills + 1})}
        )

    def on_realized_pnl(self, state: AccountRisk, day: date, realized_pnl_today: float) -> AccountRisk:
        """Record the day's realized PnL (from a PnL snapshot); halt an ACTIVE account on a breach.

        A snapshot for a day before the recorded one is stale and ignored. A REDUCING account
        stays REDUCING: it can already only shrink its positions.
        """
        if state.pnl_day is not None and day < state.pnl_day:
            return state
        state = state.model_copy(update={"pnl_day": day, "realized_pnl_today": float(realized_pnl_today)})
        if state.trading_state is TradingState.ACTIVE and state.daily_loss_breached():
            return state.model_copy(
                update={"trading_state": TradingState.HALTED, "halted_reason": _daily_loss_reason(state)}
            )
        return state

    # Rate window ---------------------------------------------------------

    def _remember(self, recent: list[datetime], at: datetime, limit: float | None) -> list[datetime]:
        if limit is None:
            return []
        kept = sorted([t for t in recent if t > at - self.rate_window] + [at])
        return self._bounded(kept, limit)

    @staticmethod
    def _bounded(recent: list[datetime], limit: float | None) -> list[datetime]:
        # Only the newest ceil(limit) orders can decide whether the limit is reached.
        if limit is None:
            return []
        return recent[-math.ceil(limit):]


def _exceeds(value: float, limit: float) -> bool:
    return value > limit + abs(limit) * _RELATIVE_TOLERANCE


def _reduces(before: int, after: int) -> bool:
    """Whether an order moving the position from ``before`` to ``after`` shrinks it without flipping."""
    if before == 0 or abs(after) >= abs(before):
        return False
    return after == 0 or (after > 0) == (before > 0)


def _with_position(positions: dict[int, int], token: int, quantity: int) -> dict[int, int]:
    updated = {**positions, token: quantity}
    if quantity == 0:
        del updated[token]
    return updated


def _prices_for(positions: dict[int, int], prices: dict[int, float]) -> dict[int, float]:
    # Prices of flat instruments are dropped, so the state grows only with open positions.
    return {token: prices[token] for token in positions}


def _gross(positions: dict[int, int], prices: dict[int, float]) -> float:
    return sum(abs(qty) * prices[token] for token, qty in positions.items())


def _count_rejection(counters: RiskCounters, code: RiskReason) -> RiskCounters:
    rejected = {**counters.rejected, code.value: counters.rejected.get(code.value, 0) + 1}
    return counters.model_copy(update={"signals": counters.signals + 1, "rejected": rejected})


def _daily_loss_reason(state: AccountRisk) -> str:
    return (
        f"realized PnL {state.realized_pnl_today:,.2f} on {state.pnl_day} is below the daily loss limit "
        f"-{state.limits.daily_loss_limit:,}"
    )


def _roll_day(state: AccountRisk, day: date) -> AccountRisk:
    if state.pnl_day is not None and day > state.pnl_day:
        return state.model_copy(update={"pnl_day": day, "realized_pnl_today": 0.0})
    return state
