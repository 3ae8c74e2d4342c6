"""Which ticks the working orders of locally matching venues (paper) still need.

A resting limit order or a partly filled order progresses on later ticks of its instrument. The
orders live in the orders table, keyed by account, and may only be changed by the execution lane
while it handles a message of that account; ticks are keyed by instrument. So ticks do not
change orders directly: the ones an order needs are forwarded, as messages, to its broker's
trigger topic (``{broker}.orders.triggers``, keyed by account), and the lane applies them in
order with the account's other messages.

:class:`TickWatch` is the bookkeeping for that, with no I/O:

- every tick is kept, undecoded, in a short per-instrument history (one dict lookup and one
  deque append per tick: the tick hot path decodes nothing for instruments nobody waits for);
- an order that starts waiting gets the ticks of its history stamped after the order's last
  seen tick, so the ticks between the signal and the order's placement are not lost, however far
  the tick reader ran ahead of the lane (what keeps a replayed tape's fills the same);
- :meth:`TickWatch.observe` says which brokers a new tick must be forwarded to.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from datetime import datetime

from alphapanda.execution.orders import TickStamp, tick_stamp
from alphapanda.models import Envelope, EventType, MarketTick
from alphapanda.models.wire import PoisonMessage, decode_event

__all__ = ["TickWatch", "DEFAULT_HISTORY", "after_creation"]

#: Ticks kept per instrument: enough to cover the few milliseconds between a signal's tick and
#: its order's placement, even for an instrument ticking hundreds of times a second.
DEFAULT_HISTORY = 32

_LAST = 2**63  # larger than any cumulative volume


def after_creation(created_at: datetime) -> TickStamp:
    """The stamp of a new order: only ticks stamped after its event time progress it."""
    return created_at, _LAST


class TickWatch:
    """The brokers and orders waiting for ticks, by instrument, and each instrument's recent ticks.

    history: ticks kept per instrument (raw bytes, decoded only when an order starts waiting).
    """

    def __init__(self, history: int = DEFAULT_HISTORY) -> None:
        if history < 1:
            raise ValueError("history must be >= 1")
        self.history = history
        self._recent: dict[bytes, deque[bytes]] = {}
        # instrument key -> broker -> order ids waiting
        self._waiting: dict[bytes, dict[str, set[str]]] = {}
        self._orders: dict[tuple[str, str], bytes] = {}  # (broker, order id) -> instrument key

    # The tick path ------------------------------------------------------------------------

    def observe(self, key: bytes | None, value: bytes) -> tuple[str, ...]:
        """Remember one tick (``market.ticks`` key and value); the brokers to forward it to."""
        if key is None:
            key = _key_of(value)
            if key is None:
                return ()
        recent = self._recent.get(key)
        if recent is None:
            recent = self._recent[key] = deque(maxlen=self.history)
        recent.append(value)
        waiting = self._waiting.get(key)
        return tuple(waiting) if waiting else ()

    # Orders --------------------------------------------------------------------------------

    def watch(self, broker: str, order_id: str, instrument_token: int, after: TickStamp) -> list[Envelope]:
        """Make ``order_id`` wait for ticks; returns the remembered ticks stamped after ``after``,
        oldest first, to forward now."""
        key = str(instrument_token).encode()
        self._orders[(broker, order_id)] = key
        self._waiting.setdefault(key, {}).setdefault(broker, set()).add(order_id)
        missed: list[Envelope] = []
        for raw in self._recent.get(key, ()):
            try:
                event = decode_event(raw, EventType.MARKET_TICK)
            except PoisonMessage:
                continue  # the strategy runner dead-letters it
            if tick_stamp(event.data) > after:
                missed.append(event)
        return missed

    def unwatch(self, broker: str, order_id: str) -> None:
        key = self._orders.pop((broker, order_id), None)
        if key is None:
            return
        brokers = self._waiting.get(key, {})
        orders = brokers.get(broker)
        if orders is not None:
            orders.discard(order_id)
            if not orders:
                del brokers[broker]
        if not brokers:
            self._waiting.pop(key, None)

    def waiting(self, broker: str) -> dict[str, int]:
        """Order id -> instrument token of ``broker``'s waiting orders."""
        return {order_id: int(key) for (b, order_id), key in self._orders.items() if b == broker}

    def sync(self, broker: str, working: Mapping[str, tuple[int, TickStamp]]) -> list[Envelope]:
        """Make ``broker``'s waiting orders exactly ``working`` (order id -> instrument, last
        stamp), e.g. from the orders table after a restart; returns the ticks to forward now."""
        for order_id in set(self.waiting(broker)) - set(working):
            self.unwatch(broker, order_id)
        known = self.waiting(broker)
        forward: dict[str, Envelope] = {}
        for order_id, (token, after) in working.items():
            if order_id not in known:
                for event in self.watch(broker, order_id, token, after):
                    forward.setdefault(event.id, event)
        return list(forward.values())

    def __len__(self) -> int:
        return len(self._orders)


def _key_of(value: bytes) -> bytes | None:
    """The instrument key of a tick published without one (decoding is the slow, rare path)."""
    try:
        tick: MarketTick = decode_event(value, EventType.MARKET_TICK).data
    except PoisonMessage:
        return None
    return str(tick.instrument_token).encode()
