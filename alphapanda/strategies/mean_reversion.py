"""Mean reversion: fade prices that stray ``entry_z`` standard deviations from their rolling mean."""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field

from alphapanda.models import MarketTick, Side
from alphapanda.strategies.base import Strategy, StrategyResult, TradingParams

__all__ = ["MeanReversionParams", "MeanReversionStrategy"]

MAX_WINDOW = 10_000
# Below this relative deviation the window is flat (e.g. an illiquid instrument) and z is noise.
_FLAT = 1e-9


class MeanReversionParams(TradingParams):
    """Parameters of :class:`MeanReversionStrategy`.

    - ``window``: number of previous ticks the mean and standard deviation are taken over.
    - ``entry_z``: BUY when the price is below ``mean - entry_z * std``, SELL when above
      ``mean + entry_z * std``.
    - ``quantity``, ``cooldown_seconds``, ``position_aware``: see :class:`TradingParams`.
    """

    window: int = Field(ge=2, le=MAX_WINDOW)
    entry_z: float = Field(gt=0, le=100, allow_inf_nan=False)


def _exact_moments(values: list[float]) -> tuple[float, float]:
    mean = math.fsum(values) / len(values)
    return mean, math.fsum((x - mean) * (x - mean) for x in values)


class MeanReversionStrategy(Strategy):
    """Z-score of the price against the previous ``window`` prices (population std).

    State: ring buffer ``buf`` of the last ``window`` prices, their ``mean`` and ``m2`` (sum of
    squared deviations) kept by a sliding Welford update, O(1) per tick. Rounding drift is
    bounded by recomputing both exactly once per full turn of the ring (O(1) amortised).
    """

    kind = "mean_reversion"
    params_model = MeanReversionParams
    params: MeanReversionParams

    __slots__ = ()

    def initial_state(self) -> dict[str, Any]:
        return {
            "window": self.params.window,
            "n": 0,
            "buf": [],
            "mean": 0.0,
            "m2": 0.0,
            "last_ts": None,
            "last_signal_ts": None,
            "position": 0,
        }

    def on_tick(self, tick: MarketTick, state: dict[str, Any] | None) -> StrategyResult:
        params = self.params
        window = params.window
        ts = tick.epoch_seconds
        advanced = self.advance(state, ts, "window", window)
        if advanced is None:
            return StrategyResult([], state)  # duplicate or out of order: state untouched
        state = advanced
        price = tick.last_price
        n = state["n"] - 1  # ticks before this one
        buf = state["buf"]
        mean = state["mean"]
        m2 = state["m2"]

        if n < window:  # warming up: Welford's running update
            buf.append(price)
            delta = price - mean
            mean += delta / (n + 1)
            state["mean"] = mean
            state["m2"] = m2 + delta * (price - mean)
            return StrategyResult([], state)

        std = math.sqrt(max(m2, 0.0) / window)
        z = (price - mean) / std if std > _FLAT * mean else 0.0

        slot = n % window
        old = buf[slot]
        buf[slot] = price
        if slot == window - 1:
            state["mean"], state["m2"] = _exact_moments(buf)
        else:
            new_mean = mean + (price - old) / window
            state["m2"] = m2 + (price - old) * (price - new_mean + old - mean)
            state["mean"] = new_mean

        entry_z = params.entry_z
        if z < -entry_z:
            side = Side.BUY
        elif z > entry_z:
            side = Side.SELL
        else:
            return StrategyResult([], state)
        return self.signal(
            state, ts, side, price,
            confidence=min(1.0, round(abs(z) / (2 * entry_z), 4)),
            metadata={"z": round(z, 4), "mean": round(mean, 4), "std": round(std, 6), "window": window},
        )
