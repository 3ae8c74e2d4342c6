"""Zerodha (Kite Connect) live execution: the venue, order mapping and order updates."""

from alphapanda.execution.zerodha.order_mapping import order_tag
from alphapanda.execution.zerodha.order_updates import OrderUpdateError, OrderUpdateTracker
from alphapanda.execution.zerodha.venue import (
    INSTRUMENT_NOT_TRADABLE,
    VENUE_REJECTED,
    VENUE_SESSION_INVALID,
    VENUE_UNAVAILABLE,
    VENUE_CIRCUIT_OPEN,
    InstrumentLookup,
    ZerodhaVenue,
)

__all__ = [
    "ZerodhaVenue",
    "InstrumentLookup",
    "OrderUpdateTracker",
    "OrderUpdateError",
    "order_tag",
    "INSTRUMENT_NOT_TRADABLE",
    "VENUE_REJECTED",
    "VENUE_SESSION_INVALID",
    "VENUE_UNAVAILABLE",
    "VENUE_CIRCUIT_OPEN",
]
