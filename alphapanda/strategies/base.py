"""What a strategy is: pure code from (tick, own state) to (signals, new state).

A strategy knows nothing of Kafka, brokers or tables. The runner keeps one state per
(strategy, instrument) in a Faust changelog table, so the state is a small JSON-serialisable
dict (numbers, lists, None) with bounded size, and every window in it runs on event time
(``tick.timestamp``), never on wall time: replaying a tape gives the same signals.

Ownership of state: ``on_tick`` may update the dict it is given in place and return it (that keeps
the per-tick work O(1)); a caller that needs the old state afterwards passes a copy.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from alphapanda.models import MAX_QUANTITY, MarketTick, OrderType, Side, TradingSignal

__all__ = [
    "SignalIntent",
    "StrategyResult",
    "StrategyParams",
    "TradingParams",
    "Strategy",
    "event_seconds",
    "signal_allowed",
    "record_signal",
]


@dataclass(frozen=True, slots=True)
class SignalIntent:
    """A strategy's wish to trade; the runner turns it into a ``trading_signal`` per broker.

    ``price`` is the reference price: the last price of the tick that caused the signal.
    """

    side: Side
    quantity: int
    price: float
    order_type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    confidence: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_trading_signal(
        self, strategy_id: str, instrument_token: int, timestamp: datetime
    ) -> TradingSignal:
        """The validated wire payload (built outside ``on_tick``, once per signal, not per tick)."""
        return TradingSignal(
            strategy_id=strategy_id,
            instrument_token=instrument_token,
            signal_type=self.side,
            quantity=self.quantity,
            price=self.price,
            timestamp=timestamp,
            order_type=self.order_type,
            limit_price=self.limit_price,
            confidence=self.confidence,
            metadata=self.metadata,
        )


@dataclass(frozen=True, slots=True)
class StrategyResult:
    """The outcome of one tick: signals to emit (usually none) and the state to store."""

    signals: list[SignalIntent]
    state: dict[str, Any]


class StrategyParams(BaseModel):
    """Base of each kind's parameter model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TradingParams(StrategyParams):
    """Parameters every bundled strategy shares.

    - ``quantity``: shares per signal.
    - ``cooldown_seconds`` (default 0): event-time seconds after a signal during which the
      strategy stays silent, so a persistent condition does not signal on every tick.
    - ``position_aware`` (default false): track the net position the strategy's own signals
      asked for and never add to it in the same direction (BUY only when flat or short, SELL
      only when flat or long).
    """

    quantity: int = Field(gt=0, le=MAX_QUANTITY)
    cooldown_seconds: float = Field(default=0.0, ge=0, le=86_400 * 7, allow_inf_nan=False)
    position_aware: bool = False


def signal_allowed(state: dict[str, Any], ts: float, side: Side, params: TradingParams) -> bool:
    """Whether the cooldown and (optionally) the position let a signal through at event time ``ts``."""
    last = state["last_signal_ts"]
    if last is not None and ts - last < params.cooldown_seconds:
        return False
    if params.position_aware:
        position = state["position"]
        return position <= 0 if side is Side.BUY else position >= 0
    return True


def record_signal(state: dict[str, Any], ts: float, side: Side, quantity: int) -> None:
    """Start the cooldown and account the intended position of a signal just emitted."""
    state["last_signal_ts"] = ts
    state["position"] += quantity if side is Side.BUY else -quantity


def event_seconds(tick: MarketTick) -> float:
    """The tick's exchange time as POSIX seconds: the clock of every strategy window."""
    return tick.epoch_seconds


class Strategy(ABC):
    """One configured strategy instance, shared by all its instruments.

    Responsibilities:
    - turn a tick plus the state of that (strategy, instrument) into signals and the next state;
    - start from ``state=None`` (no history) and continue identically from a state that went
      through ``json.dumps``/``json.loads`` (a restart resumes the same window);
    - ignore ticks at or before the last seen event time without changing the state.

    Subclasses set ``kind`` and ``params_model`` and implement :meth:`on_tick`.
    """

    kind: ClassVar[str]
    params_model: ClassVar[type[StrategyParams]]

    __slots__ = ("id", "params")

    def __init__(self, strategy_id: str, params: StrategyParams) -> None:
        if not isinstance(params, self.params_model):
            raise TypeError(
                f"{type(self).__name__} needs {self.params_model.__name__}, got {type(params).__name__}"
            )
        self.id = strategy_id
        self.params = params

    @abstractmethod
    def on_tick(self, tick: MarketTick, state: dict[str, Any] | None) -> StrategyResult:
        """Signals caused by ``tick`` and the state after it."""

    @abstractmethod
    def initial_state(self) -> dict[str, Any]:
        """The state of an instrument with no history."""

    def advance(self, state: dict[str, Any] | None, ts: float, size_key: str, size: int) -> dict[str, Any] | None:
        """The state to advance for a tick at event time ``ts``, its tick counted and time noted;
        None for a duplicate or out-of-order tick (state untouched). A stored window of another
        size (``state[size_key] != size``) is meaningless: it starts over."""
        if state is None or state.get(size_key) != size:
            state = self.initial_state()
        elif state["last_ts"] is not None and ts <= state["last_ts"]:
            return None
        state["n"] += 1
        state["last_ts"] = ts
        return state

    def signal(self, state: dict[str, Any], ts: float, side: Side, price: float,
               confidence: float, metadata: dict[str, Any]) -> StrategyResult:
        """One signal, unless the cooldown or the position keeps it back."""
        params = self.params
        if not signal_allowed(state, ts, side, params):
            return StrategyResult([], state)
        record_signal(state, ts, side, params.quantity)
        intent = SignalIntent(side=side, quantity=params.quantity, price=price,
                              confidence=confidence, metadata=metadata)
        return StrategyResult([intent], state)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, params={self.params!r})"
