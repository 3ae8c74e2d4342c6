"""Evaluates strategies over ticks and fans each signal out to its brokers (no Faust).

The agent hands it a batch of decoded ticks and a state store; it returns the signal envelopes to
send and which instrument states changed. Signal ids are derived from (tick, strategy, broker),
so re-evaluating a redelivered tick produces the same ids and downstream dedupe catches them.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from typing import Collection, MutableMapping

from alphapanda.models import Envelope, EventType, MarketTick, TradingSignal
from alphapanda.reliability.path import Emit
from alphapanda.strategies.book import StrategyBook
from alphapanda.topics import BrokerTopics, account_of

__all__ = ["StrategyRunner", "signal_event_id"]

SOURCE = "strategy_runner"
_SIGNAL_ENVELOPE = Envelope[TradingSignal]


def signal_event_id(tick_id: str, strategy_id: str, broker: str) -> str:
    return hashlib.blake2b(f"{tick_id}|{strategy_id}|{broker}".encode(), digest_size=16).hexdigest()


@dataclass
class StrategyRunner:
    """Strategies per instrument, their state, and the fan-out of signals to brokers.

    book: the strategies, routed by instrument in O(1).
    active_brokers / live_brokers: where signals may go (live ones only with ``live_trading``).
    states: instrument token (str) -> {strategy_id: state}; the agent backs it by a table.
    """

    book: StrategyBook
    active_brokers: Collection[str]
    live_brokers: Collection[str]
    states: MutableMapping[str, dict | None]
    _targets: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def targets(self, strategy_id: str) -> tuple[str, ...]:
        targets = self._targets.get(strategy_id)
        if targets is None:
            config = self.book.config_of(strategy_id)
            targets = tuple(config.target_brokers(self.active_brokers, self.live_brokers))
            self._targets[strategy_id] = targets
        return targets

    def on_tick(self, tick_event: Envelope, dirty: dict[str, dict]) -> list[Emit]:
        """Evaluate one tick; changed state goes into ``dirty`` (written once per batch)."""
        tick: MarketTick = tick_event.data
        strategies = self.book.strategies_for(tick.instrument_token)
        if not strategies:
            return []
        key = str(tick.instrument_token)
        states = dirty.get(key)
        if states is None:
            # Strategies advance their state in place (O(1) per tick); a deep copy per instrument
            # and batch keeps the stored state untouched until the batch's signals are acked.
            states = copy.deepcopy(self.states.get(key) or {})
        outputs: list[Emit] = []
        for strategy in strategies:
            result = strategy.on_tick(tick, states.get(strategy.id))
            states[strategy.id] = result.state
            for intent in result.signals:
                signal = TradingSignal(
                    strategy_id=strategy.id,
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
                for broker in self.targets(strategy.id):
                    event = _SIGNAL_ENVELOPE(
                        id=signal_event_id(tick_event.id, strategy.id, broker),
                        type=EventType.TRADING_SIGNAL,
                        timestamp=tick.timestamp,
                        correlation_id=tick_event.correlation_id,
                        causation_id=tick_event.id,
                        source=SOURCE,
                        broker=broker,
                        data=signal,
                    )
                    outputs.append(Emit(BrokerTopics(broker).signals_raw, account_of(broker), event))
        dirty[key] = states
        return outputs
