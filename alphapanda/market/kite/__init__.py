"""Zerodha Kite Connect market data: the ticker wire format and an asyncio websocket client."""

from alphapanda.market.kite.packets import KitePacket, KiteProtocolError, packet_to_tick, parse_frame
from alphapanda.market.kite.ticker import KiteTicker, KiteTickerError, TickerState, TickerStats

__all__ = [
    "KitePacket",
    "KiteProtocolError",
    "packet_to_tick",
    "parse_frame",
    "KiteTicker",
    "KiteTickerError",
    "TickerState",
    "TickerStats",
]
