"""Zerodha Kite Connect market data: the ticker wire format and an asyncio websocket client."""
