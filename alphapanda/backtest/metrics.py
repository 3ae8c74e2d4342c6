"""Backtest statistics per strategy and per broker, from fills and prices in event-time order.

Pure domain code (no Faust, no I/O). The books are the portfolio's own :class:`Position`, so a
strategy's realized and unrealized PnL are computed by exactly the rules of the worker's
accounting (weighted average cost, commissions inside realized PnL), and the strategies of a
broker add up to its portfolio.

Definitions (the report prints them too):

- **trades**: fills that closed all or part of a position; a **win** is one whose realized PnL
  (after its own commission) is above zero; **win rate** = wins / trades (None without trades).
- **equity** of a strategy: its realized plus unrealized PnL, marked at every tick of an
  instrument it holds; of a broker: the sum over its strategies.
- **max drawdown**: the largest fall of equity from a running peak (money, ≥ 0).
- **Sharpe ratio**: mean over standard deviation of the equity's change per one-minute
  event-time bar, as a return on the broker's starting cash, times √(252 × 375) — NSE's 375
  trading minutes a day, 252 days a year. Only bars with at least one tick count (a tape has
  gaps: nights, weekends), there is no risk-free rate, and it is None with fewer than two bars
  or no variation.
- **exposure**: the share of the tape's event time with an open position (``exposure_time``),
  and the largest gross notional held (``max_gross_exposure``, at the marks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from alphapanda.portfolio import Position, round_money

__all__ = ["BAR_SECONDS", "ANNUALIZATION", "FillRecord", "Curve", "StrategyStats", "BacktestBooks", "sharpe_ratio",
           "max_drawdown"]

BAR_SECONDS = 60
#: √(bars per year): 375 one-minute bars per NSE session, 252 sessions.
ANNUALIZATION = math.sqrt(252 * 375)


@dataclass(frozen=True, slots=True)
class FillRecord:
    """One fill as the backtest reads it from ``{broker}.orders.filled``."""

    broker: str
    strategy_id: str
    instrument_token: int
    side: str  # BUY or SELL
    quantity: int
    price: float
    commission: float
    at: datetime
    fill_id: str


def max_drawdown(values: list[float]) -> float:
    """The largest fall from a running peak of ``values`` (0 for a curve that never falls)."""
    peak, worst = -math.inf, 0.0
    for value in values:
        peak = max(peak, value)
        worst = max(worst, peak - value)
    return worst


def sharpe_ratio(bar_closes: list[float], capital: float) -> float | None:
    """Annualized Sharpe of the changes between consecutive bar closes, as returns on ``capital``."""
    if len(bar_closes) < 3 or capital <= 0:  # two returns at least
        return None
    returns = [(b - a) / capital for a, b in zip(bar_closes, bar_closes[1:])]
    mean = math.fsum(returns) / len(returns)
    variance = math.fsum((r - mean) ** 2 for r in returns) / (len(returns) - 1)
    if variance <= 1e-24:
        return None
    return mean / math.sqrt(variance) * ANNUALIZATION


@dataclass
class Curve:
    """Equity over event time: every point for the drawdown, one close per bar for Sharpe, and a
    thinned copy for charts."""

    points: list[tuple[datetime, float]] = field(default_factory=list)
    bar_closes: list[float] = field(default_factory=list)
    _bar: int | None = None

    def add(self, at: datetime, value: float) -> None:
        bar = int(at.timestamp()) // BAR_SECONDS
        if self._bar == bar and self.bar_closes:
            self.bar_closes[-1] = value
        else:
            self.bar_closes.append(value)
            self._bar = bar
        if self.points and self.points[-1][0] == at:
            self.points[-1] = (at, value)  # one value per instant: the last
        else:
            self.points.append((at, value))

    def carry(self, at: datetime) -> None:
        """A tick that did not change this equity: its bar still counts (at the last value)."""
        if not self.points:
            return
        bar = int(at.timestamp()) // BAR_SECONDS
        if bar != self._bar:
            self.bar_closes.append(self.points[-1][1])
            self._bar = bar

    def values(self) -> list[float]:
        return [value for _, value in self.points]

    def thinned(self, limit: int = 600) -> list[tuple[datetime, float]]:
        """At most about ``limit`` points, keeping the first, the last and each stretch's extremes."""
        if len(self.points) <= limit:
            return list(self.points)
        step = math.ceil(len(self.points) / (limit / 2))
        kept: list[tuple[datetime, float]] = []
        for start in range(0, len(self.points), step):
            chunk = self.points[start:start + step]
            low, high = min(chunk, key=lambda p: p[1]), max(chunk, key=lambda p: p[1])
            kept.extend(sorted({low, high}, key=lambda p: p[0]))
        if kept[-1] != self.points[-1]:
            kept.append(self.points[-1])
        return kept


@dataclass
class StrategyStats:
    broker: str
    strategy_id: str
    positions: dict[int, Position] = field(default_factory=dict)
    trades: int = 0
    wins: int = 0
    fills: int = 0
    max_gross_exposure: float = 0.0
    exposed_seconds: float = 0.0
    curve: Curve = field(default_factory=Curve)
    _open_since: datetime | None = None

    @property
    def realized_pnl(self) -> float:
        return math.fsum(p.realized_pnl for p in self.positions.values())

    @property
    def unrealized_pnl(self) -> float:
        return math.fsum(p.unrealized_pnl for p in self.positions.values())

    @property
    def total_pnl(self) -> float:
        return self.realized_pnl + self.unrealized_pnl

    @property
    def commissions(self) -> float:
        return math.fsum(p.commissions for p in self.positions.values())

    @property
    def gross_exposure(self) -> float:
        return math.fsum(abs(p.market_value) for p in self.positions.values())

    @property
    def has_open_position(self) -> bool:
        return any(not p.is_flat for p in self.positions.values())

    def summary(self, capital: float, span_seconds: float) -> dict:
        return {
            "broker": self.broker,
            **_sums([self]),
            "max_drawdown": round_money(max_drawdown(self.curve.values())),
            "sharpe": _round(sharpe_ratio(self.curve.bar_closes, capital)),
            "exposure_time": round(self.exposed_seconds / span_seconds, 6) if span_seconds > 0 else 0.0,
            "max_gross_exposure": round_money(self.max_gross_exposure),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


class BacktestBooks:
    """Feed ticks and fills in event-time order (:meth:`on_tick`, :meth:`on_fill`), then read
    :meth:`strategies` and :meth:`brokers`."""

    def __init__(self, starting_cash: dict[str, float]) -> None:
        self.starting_cash = dict(starting_cash)
        self._stats: dict[tuple[str, str], StrategyStats] = {}
        self._holders: dict[int, set[tuple[str, str]]] = {}  # token -> strategies with a position
        self._broker_curves: dict[str, Curve] = {broker: Curve() for broker in starting_cash}
        # A broker's exposure is its strategies' together: time with any position open, and the
        # largest gross notional of all of them at once.
        self._broker_exposed_seconds: dict[str, float] = {broker: 0.0 for broker in starting_cash}
        self._broker_max_gross: dict[str, float] = {broker: 0.0 for broker in starting_cash}
        self.first_at: datetime | None = None
        self.last_at: datetime | None = None
        self.ticks = 0

    def _advance(self, at: datetime) -> None:
        if self.first_at is None:
            self.first_at = at
        if self.last_at is not None and at > self.last_at:
            elapsed = (at - self.last_at).total_seconds()
            exposed_brokers = set()
            for (broker, _), stats in self._stats.items():
                if stats.has_open_position:
                    stats.exposed_seconds += elapsed
                    exposed_brokers.add(broker)
            for broker in exposed_brokers:
                self._broker_exposed_seconds[broker] = self._broker_exposed_seconds.get(broker, 0.0) + elapsed
        self.last_at = at if self.last_at is None else max(self.last_at, at)

    def on_tick(self, instrument_token: int, price: float, at: datetime) -> None:
        self._advance(at)
        self.ticks += 1
        holders = self._holders.get(instrument_token, ())
        touched = set()
        for key, stats in self._stats.items():
            if key in holders:
                stats.positions[instrument_token] = stats.positions[instrument_token].mark(price)
                self._record(stats, at)
                touched.add(key[0])
            else:
                stats.curve.carry(at)
        for broker, curve in self._broker_curves.items():
            if broker in touched:
                self._record_broker(broker, at)
            else:
                curve.carry(at)

    def on_fill(self, fill: FillRecord) -> None:
        self._advance(fill.at)
        key = (fill.broker, fill.strategy_id)
        stats = self._stats.get(key)
        if stats is None:
            stats = self._stats[key] = StrategyStats(fill.broker, fill.strategy_id)
        before = stats.positions.get(fill.instrument_token) or Position(fill.strategy_id, fill.instrument_token)
        after = before.apply_fill(fill.side, fill.quantity, fill.price, fill.commission)
        stats.positions[fill.instrument_token] = after
        stats.fills += 1
        if not before.is_flat and (before.quantity > 0) != (after.quantity > before.quantity):
            stats.trades += 1  # it reduced, closed or flipped the position
            if after.realized_pnl - before.realized_pnl > 0:
                stats.wins += 1
        self._holders.setdefault(fill.instrument_token, set()).add(key)
        self._record(stats, fill.at)
        self._record_broker(fill.broker, fill.at)

    def _record(self, stats: StrategyStats, at: datetime) -> None:
        stats.curve.add(at, stats.total_pnl)
        stats.max_gross_exposure = max(stats.max_gross_exposure, stats.gross_exposure)

    def _record_broker(self, broker: str, at: datetime) -> None:
        own = [s for (b, _), s in self._stats.items() if b == broker]
        self._broker_curves.setdefault(broker, Curve()).add(at, math.fsum(s.total_pnl for s in own))
        gross = math.fsum(s.gross_exposure for s in own)
        self._broker_max_gross[broker] = max(self._broker_max_gross.get(broker, 0.0), gross)

    @property
    def span_seconds(self) -> float:
        if self.first_at is None or self.last_at is None:
            return 0.0
        return (self.last_at - self.first_at).total_seconds()

    def strategies(self) -> dict[str, dict]:
        """Per strategy id: its statistics, each broker's under ``brokers`` and their sum at the top."""
        out: dict[str, dict] = {}
        for strategy_id in sorted({s for _, s in self._stats}):
            own = [st for (_, s), st in sorted(self._stats.items()) if s == strategy_id]
            per_broker = {st.broker: st.summary(self.starting_cash.get(st.broker, 0.0), self.span_seconds)
                          for st in own}
            out[strategy_id] = {**_sums(own), **_worst(per_broker.values()), "brokers": per_broker}
        return out

    def brokers(self) -> dict[str, dict]:
        """Per broker: its equity curve's drawdown and Sharpe, its exposure, and the strategies' sums."""
        out = {}
        span = self.span_seconds
        for broker, curve in sorted(self._broker_curves.items()):
            own = [st for (b, _), st in self._stats.items() if b == broker]
            exposed = self._broker_exposed_seconds.get(broker, 0.0)
            out[broker] = {
                **_sums(own),
                "max_drawdown": round_money(max_drawdown(curve.values())),
                "sharpe": _round(sharpe_ratio(curve.bar_closes, self.starting_cash.get(broker, 0.0))),
                "exposure_time": round(exposed / span, 6) if span > 0 else 0.0,
                "max_gross_exposure": round_money(self._broker_max_gross.get(broker, 0.0)),
            }
        return out

    def curves(self, limit: int = 600) -> dict:
        """Thinned equity curves for charts: per broker and per (broker, strategy)."""
        def points(curve: Curve) -> list[list]:
            return [[at.isoformat().replace("+00:00", "Z"), round_money(v)] for at, v in curve.thinned(limit)]

        return {
            "brokers": {b: points(c) for b, c in sorted(self._broker_curves.items())},
            "strategies": {f"{b}/{s}": points(st.curve) for (b, s), st in sorted(self._stats.items())},
        }


def _sums(stats: list[StrategyStats]) -> dict:
    """What adds up over books (one strategy on one broker, or several): counts, PnL, commissions."""
    trades = sum(st.trades for st in stats)
    wins = sum(st.wins for st in stats)
    return {
        "trades": trades, "wins": wins, "win_rate": round(wins / trades, 6) if trades else None,
        "fills": sum(st.fills for st in stats),
        "realized_pnl": round_money(math.fsum(st.realized_pnl for st in stats)),
        "unrealized_pnl": round_money(math.fsum(st.unrealized_pnl for st in stats)),
        "total_pnl": round_money(math.fsum(st.total_pnl for st in stats)),
        "commissions": round_money(math.fsum(st.commissions for st in stats)),
    }


def _worst(rows) -> dict:
    """A strategy over all its brokers: what does not add up is the worst broker's."""
    rows = list(rows)
    sharpes = [r["sharpe"] for r in rows if r["sharpe"] is not None]
    return {
        "max_drawdown": max((r["max_drawdown"] for r in rows), default=0.0),
        "sharpe": min(sharpes) if sharpes else None,
        "exposure_time": max((r["exposure_time"] for r in rows), default=0.0),
        "max_gross_exposure": max((r["max_gross_exposure"] for r in rows), default=0.0),
    }
