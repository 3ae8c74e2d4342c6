"""Evaluates strategies over ticks and fans each signal out to its brokers (no Faust).

The runner keeps the *working* state of every instrument it has seen (``{strategy_id: state}``
per instrument token), advanced in place tick by tick: no copy and no store lookup per tick.
It starts from the stored (checkpointed) state in ``states``, which it only reads; when that is
written, and what happens to the working state after a failure or a rebalance
(:meth:`StrategyRunner.forget`), is the caller's business.

Signal ids are derived from (tick, strategy, broker), so re-evaluating a redelivered tick from
an older state produces the same ids, and downstream dedupe catches them. Strategies skip ticks
at or before their last event time, so replaying ticks onto a newer state changes nothing.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from typing import Collection, Iterable, Mapping

from alphapanda.models import Envelope, EventType, MarketTick, TradingSignal
from alphapanda.reliability.path import Emit
from alphapanda.strategies.book import StrategyBook
from alphapanda.topics import BrokerTopics, account_of

__all__ = ["StrategyRunner", "signal_event_id", "InstrumentStates"]

SOURCE = "strategy_runner"
_SIGNAL_ENVELOPE = Envelope[TradingSignal]

#: ``{strategy_id: state}`` of one instrument: what the strategy-state table holds per key.
InstrumentStates = dict[str, dict]


def signal_event_id(tick_id: str, strategy_id: str, broker: str) -> str:
    return hashlib.blake2b(f"{tick_id}|{strategy_id}|{broker}".encode(), digest_size=16).hexdigest()


@dataclass
class StrategyRunner:
    """Strategies per instrument, their working state, and the fan-out of signals to brokers.

    book: the strategies, routed by instrument in O(1).
    active_brokers / live_brokers: where signals may go (live ones only with ``live_trading``).
    states: instrument token (str) -> its stored states (the agent passes the table); read
        once per instrument, the first time the runner needs it (and again after
        :meth:`forget`). A copy is taken, so the stored object is never changed in place.
    """

    book: StrategyBook
    active_brokers: Collection[str]
    live_brokers: Collection[str]
    states: Mapping[str, InstrumentStates | None] = field(default_factory=dict)
    _working: dict[str, InstrumentStates] = field(default_factory=dict)
    _targets: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def targets(self, strategy_id: str) -> tuple[str, ...]:
        targets = self._targets.get(strategy_id)
        if targets is None:
            config = self.book.config_of(strategy_id)
            targets = tuple(config.target_brokers(self.active_brokers, self.live_brokers))
            self._targets[strategy_id] = targets
        return targets

    def working_state(self, key: str) -> InstrumentStates | None:
        """The working states of an instrument (None if the runner holds none)."""
        return self._working.get(key)

    def snapshot(self, key: str) -> InstrumentStates:
        """A copy of an instrument's working states, safe to store while the runner goes on."""
        return copy.deepcopy(self._working[key])

    def forget(self, keys: Iterable[str] | None = None) -> None:
        """Drop working states (all when ``keys`` is None); the next tick reloads them."""
        if keys is None:
            self._working.clear()
        else:
            for key in keys:
                self._working.pop(key, None)

    def on_tick(self, tick_event: Envelope, dirty: dict[str, InstrumentStates] | None = None) -> list[Emit]:
        """Evaluate one tick: advance its instrument's working state, return the signals to send.

        With ``dirty``, the instrument's working state is also recorded there under its key
        (what changed since the caller last stored).
        """
        tick: MarketTick = tick_event.data
        strategies = self.book.strategies_for(tick.instrument_token)
        if not strategies:
            return []
        key = str(tick.instrument_token)
        states = self._working.get(key)
        if states is None:
            stored = self.states.get(key)
            states = self._working[key] = copy.deepcopy(stored) if stored else {}
        outputs: list[Emit] = []
        for strategy in strategies:
            strategy_id = strategy.id
            result = strategy.on_tick(tick, states.get(strategy_id))
            states[strategy_id] = result.state
            for intent in result.signals:
                outputs.extend(self._fan_out(tick_event, tick, strategy_id, intent))
        if dirty is not None:
            dirty[key] = states
        return outputs

    def _fan_out(self, tick_event: Envelope, tick: MarketTick, strategy_id: str, intent) -> list[Emit]:
        signal = TradingSignal(
            strategy_id=strategy_id,
            instrument_token=tick.instrument_token,
            signal_type=intent.side,
            quantity=intent.quantity,
            price=intent.price,
            timestamp=tick.timestamp,
            order_type=intent.order_type,
            limit_price=intent.limit_price,
            confidence=intent.confidence,
            metadata=dict(intent.metadata),
        )
        outputs = []
        for broker in self.targets(strategy_id):
            event = _SIGNAL_ENVELOPE(
                id=signal_event_id(tick_event.id, strategy_id, broker),
                type=EventType.TRADING_SIGNAL,
                timestamp=tick.timestamp,
                correlation_id=tick_event.correlation_id,
                causation_id=tick_event.id,
                source=SOURCE,
                broker=broker,
                data=signal,
            )
            outputs.append(Emit(BrokerTopics(broker).signals_raw, account_of(broker), event))
        return outputs
