"""Which payload each event type carries, and the concrete envelope class per type."""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel

from alphapanda.models.events import Envelope, EventType
from alphapanda.models import payloads as p

PAYLOAD_TYPES: dict[EventType, type[BaseModel]] = {
    EventType.MARKET_TICK: p.MarketTick,
    EventType.TRADING_SIGNAL: p.TradingSignal,
    EventType.VALIDATED_SIGNAL: p.ValidatedSignal,
    EventType.REJECTED_SIGNAL: p.RejectedSignal,
    EventType.ORDER_PLACED: p.OrderPlaced,
    EventType.ORDER_FILLED: p.OrderFilled,
    EventType.ORDER_FAILED: p.OrderFailed,
    EventType.PNL_SNAPSHOT: p.PortfolioSummary,
    EventType.DEAD_LETTER: p.DeadLetter,
    EventType.RISK_COMMAND: p.RiskCommand,
    EventType.VENUE_ORDER_UPDATE: p.VenueOrderUpdate,
}


@cache
def envelope_type(event_type: EventType) -> type[Envelope]:
    """``Envelope[Payload]`` for an event type (parametrised once, then cached)."""
    return Envelope[PAYLOAD_TYPES[event_type]]  # type: ignore[valid-type]
