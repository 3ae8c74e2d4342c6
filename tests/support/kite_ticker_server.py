"""A local websocket server that speaks Zerodha's KiteTicker protocol, for tests.

It checks the credentials in the query string, records every client message per connection,
streams binary frames for the subscribed tokens in their modes every ``tick_interval`` seconds
(a one-byte heartbeat when nothing is subscribed), and lets a test push order updates, drop
every connection, refuse the next connections or go silent.

    async with KiteTickerServer() as server:
        ticker = KiteTicker("key", "token", root=server.url, ...)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Callable

from aiohttp import WSCloseCode, WSMsgType, web

from alphapanda.market.kite.packets import (
    DepthEntry,
    SEGMENT_INDICES,
    build_frame,
    pack_full,
    pack_index,
    pack_ltp,
    pack_quote,
    segment_of,
)

__all__ = ["TickerConnection", "KiteTickerServer"]

HEARTBEAT = b"\x00"


@dataclass
class TickerConnection:
    """What one client connection did: its query, its messages and what it is subscribed to."""

    index: int
    query: dict[str, str]
    messages: list[Any] = field(default_factory=list)
    subscriptions: dict[int, str] = field(default_factory=dict)  # token -> mode
    frames_sent: int = 0
    open: bool = True

    def count(self, action: str) -> int:
        """How many ``{"a": action, ...}`` messages the client sent on this connection."""
        return sum(1 for m in self.messages if isinstance(m, dict) and m.get("a") == action)


class KiteTickerServer:
    """A KiteTicker websocket endpoint on 127.0.0.1 with an ephemeral port."""

    def __init__(
        self,
        *,
        tick_interval: float = 0.02,
        api_key: str | None = None,
        access_token: str | None = None,
    ) -> None:
        self.tick_interval = tick_interval
        self.api_key = api_key
        self.access_token = access_token
        self.connections: list[TickerConnection] = []
        self.attempts = 0  # every websocket request, refused ones included
        self.silent = False  # when set, nothing at all is sent: no frames, no pongs
        self._refuse_remaining = 0
        self._refuse_status = 503
        self._sockets: dict[int, tuple[web.WebSocketResponse, web.Request]] = {}
        self._sequence = 0
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # --- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> "KiteTickerServer":
        app = web.Application()
        app.router.add_get("/", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, shutdown_timeout=1.0)
        await site.start()
        self._port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.drop_all()
        assert self._runner is not None
        await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._port}"

    # --- test controls ----------------------------------------------------------------------

    def refuse(self, count: int, *, status: int = 503) -> None:
        """Answer the next ``count`` websocket requests with HTTP ``status`` instead of upgrading."""
        self._refuse_remaining = count
        self._refuse_status = status

    @property
    def open_connections(self) -> list[TickerConnection]:
        return [c for c in self.connections if c.open]

    async def drop_all(self, *, abrupt: bool = False) -> None:
        """Server-side disconnect of every open connection: a close frame, or a reset socket."""
        for ws, request in list(self._sockets.values()):
            if abrupt and request.transport is not None:
                request.transport.abort()
            else:
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server restart")

    async def push_text(self, message: Any) -> None:
        """Send a JSON text frame to every open connection."""
        for ws, _ in list(self._sockets.values()):
            await ws.send_str(json.dumps(message))

    async def push_order_update(self, data: dict[str, Any]) -> None:
        await self.push_text({"type": "order", "data": data})

    async def push_frame(self, frame: bytes) -> None:
        """Send raw binary bytes to every open connection (e.g. a malformed frame)."""
        for ws, _ in list(self._sockets.values()):
            await ws.send_bytes(frame)

    async def wait_until(self, condition: Callable[[], bool], *, timeout: float = 5.0) -> None:
        """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.005)

    # --- protocol ---------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.attempts += 1
        if self._refuse_remaining > 0:
            self._refuse_remaining -= 1
            return web.Response(status=self._refuse_status, text="refused by test server")
        if (self.api_key is not None and request.query.get("api_key") != self.api_key) or (
            self.access_token is not None
            and request.query.get("access_token") != self.access_token
        ):
            return web.json_response(
                {"status": "error", "message": "Invalid `api_key` or `access_token`.",
                 "error_type": "TokenException"},
                status=403,
            )
        # Pongs are sent by hand so that a silent server also stops answering pings.
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        connection = TickerConnection(index=len(self.connections), query=dict(request.query))
        self.connections.append(connection)
        self._sockets[connection.index] = (ws, request)
        sender = asyncio.create_task(
            self._send_ticks(connection, ws), name=f"kite-test-server-send-{connection.index}"
        )
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    self._apply(connection, json.loads(message.data))
                elif message.type is WSMsgType.PING and not self.silent:
                    await ws.pong(message.data)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            connection.open = False
            self._sockets.pop(connection.index, None)
        return ws

    @staticmethod
    def _apply(connection: TickerConnection, message: Any) -> None:
        connection.messages.append(message)
        action, value = message.get("a"), message.get("v")
        if action == "subscribe":
            for token in value:
                connection.subscriptions.setdefault(token, "quote")  # Kite's default mode
        elif action == "unsubscribe":
            for token in value:
                connection.subscriptions.pop(token, None)
        elif action == "mode":
            mode, tokens = value
            for token in tokens:
                if token in connection.subscriptions:
                    connection.subscriptions[token] = mode

    async def _send_ticks(self, connection: TickerConnection, ws: web.WebSocketResponse) -> None:
        while not ws.closed:
            await asyncio.sleep(self.tick_interval)
            if self.silent or ws.closed:
                continue
            if connection.subscriptions:
                frame = build_frame([self._packet(t, m) for t, m in connection.subscriptions.items()])
            else:
                frame = HEARTBEAT
            try:
                await ws.send_bytes(frame)
            except ConnectionError:
                return
            connection.frames_sent += 1

    def _packet(self, token: int, mode: str) -> bytes:
        """A plausible packet: prices walk up by 0.05 per tick from a base that depends on the token."""
        self._sequence += 1
        price = 100.0 + token % 1000 + 0.05 * (self._sequence % 200)
        now = datetime.now(UTC).replace(microsecond=0)
        ohlc = dict(open=price - 1, high=price + 2, low=price - 2, close=price - 0.5)
        if mode == "ltp":
            return pack_ltp(token, price)
        if segment_of(token) == SEGMENT_INDICES:
            if mode == "full":
                return pack_index(token, price, **ohlc, mode="full", exchange_timestamp=now)
            return pack_index(token, price, **ohlc)
        quote = dict(last_quantity=5, average_price=price - 0.25, volume=1000 + self._sequence,
                     total_buy_quantity=500, total_sell_quantity=700, **ohlc)
        if mode == "quote":
            return pack_quote(token, price, **quote)
        return pack_full(
            token, price, **quote, last_trade_time=now, exchange_timestamp=now,
            buy_depth=[DepthEntry(price - 0.05 * (i + 1), 10 * (i + 1), i + 1) for i in range(5)],
            sell_depth=[DepthEntry(price + 0.05 * (i + 1), 10 * (i + 1), i + 1) for i in range(5)],
        )
