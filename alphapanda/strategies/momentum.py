"""Momentum: trade in the direction of the return over the last ``lookback`` ticks."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from alphapanda.models import MarketTick, Side
from alphapanda.strategies.base import Strategy, StrategyResult, TradingParams

__all__ = ["MomentumParams", "MomentumStrategy"]

# Bounds the state: the window is stored in the changelog with every update.
MAX_LOOKBACK = 10_000


class MomentumParams(TradingParams):
    """Parameters of :class:`MomentumStrategy`.

    - ``lookback``: the return is measured against the price ``lookback`` ticks ago.
    - ``threshold``: fraction (0.001 = 0.1 %); BUY above ``+threshold``, SELL below ``-threshold``.
    - ``quantity``, ``cooldown_seconds``, ``position_aware``: see :class:`TradingParams`.
    """

    lookback: int = Field(gt=0, le=MAX_LOOKBACK)
    threshold: float = Field(gt=0, lt=1, allow_inf_nan=False)


class MomentumStrategy(Strategy):
    """BUY when the ``lookback``-tick return exceeds ``threshold``, SELL when it is below its negative.

    State: a ring buffer ``buf`` of the last ``lookback`` prices (slot ``n % lookback`` holds the
    price ``lookback`` ticks before tick ``n``), the count ``n`` of accepted ticks, the last event
    time, the last signal time and the intended position. O(1) per tick.
    """

    kind = "momentum"
    params_model = MomentumParams
    params: MomentumParams

    __slots__ = ()

    def initial_state(self) -> dict[str, Any]:
        return {
            "lookback": self.params.lookback,
            "n": 0,
            "buf": [],
            "last_ts": None,
            "last_signal_ts": None,
            "position": 0,
        }

    def on_tick(self, tick: MarketTick, state: dict[str, Any] | None) -> StrategyResult:
        params = self.params
        lookback = params.lookback
        ts = tick.epoch_seconds
        advanced = self.advance(state, ts, "lookback", lookback)
        if advanced is None:
            return StrategyResult([], state)  # duplicate or out of order: state untouched
        state = advanced
        price = tick.last_price
        n = state["n"] - 1  # ticks before this one
        buf = state["buf"]
        if n < lookback:
            buf.append(price)
            return StrategyResult([], state)
        slot = n % lookback
        past = buf[slot]
        buf[slot] = price

        change = price / past - 1.0
        threshold = params.threshold
        if change > threshold:
            side = Side.BUY
        elif change < -threshold:
            side = Side.SELL
        else:
            return StrategyResult([], state)
        return self.signal(
            state, ts, side, price,
            confidence=min(1.0, round(abs(change) / (2 * threshold), 4)),
            metadata={"return": round(change, 6), "lookback": lookback, "reference_price": past},
        )
