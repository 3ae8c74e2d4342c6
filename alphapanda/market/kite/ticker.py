"""An asyncio KiteTicker client: Zerodha's streaming quotes over an aiohttp websocket.

kiteconnect's own ``KiteTicker`` runs a Twisted reactor in a thread that cannot be restarted;
this client speaks the same protocol natively in the application's event loop. Frames are
parsed inline (a frame is microseconds of work), so ticks reach ``on_ticks`` in arrival order
and a slow consumer slows reading instead of growing a queue.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Awaitable, Callable, Literal, Sequence
from urllib.parse import quote_plus, urlencode

import aiohttp
from pydantic import ValidationError

from alphapanda.market.instruments import InstrumentMaster
from alphapanda.market.kite.packets import KiteProtocolError, packet_to_tick, parse_frame
from alphapanda.models import MarketTick

__all__ = [
    "KITE_TICKER_ROOT",
    "MAX_TOKENS_PER_CONNECTION",
    "TickerMode",
    "TickerState",
    "TickerStats",
    "KiteTickerError",
    "KiteTicker",
]

log = logging.getLogger(__name__)

KITE_TICKER_ROOT = "wss://ws.kite.trade"
MAX_TOKENS_PER_CONNECTION = 3000

TickerMode = Literal["ltp", "quote", "full"]
TickerState = Literal["idle", "connecting", "connected", "reconnecting", "stopped", "failed"]

_MODES = ("ltp", "quote", "full")
_CREDENTIALS_REJECTED = (401, 403)


#: Seconds :meth:`KiteTicker.stop` waits for callbacks still delivering (acks from Kafka).
CALLBACK_STOP_TIMEOUT = 10.0


class KiteTickerError(RuntimeError):
    """The ticker gave up: reconnection attempts exhausted or the credentials were rejected."""


@dataclass(frozen=True, slots=True)
class TickerStats:
    """What the ticker has seen since it started; nothing it drops goes uncounted."""

    connections: int = 0
    frames: int = 0
    ticks: int = 0
    order_updates: int = 0
    malformed_frames: int = 0
    invalid_packets: int = 0


class KiteTicker:
    """Streams ticks of ``tokens`` from Kite's ticker websocket until stopped.

    Responsibilities:

    - connect to ``root?api_key=…&access_token=…`` and subscribe the tokens in ``mode``, once
      per connection;
    - turn each binary frame into :class:`MarketTick` s and await ``on_ticks`` with them
      (indices included: they are market data even though they are not tradable); order-update
      text frames go to ``on_order_update``, error and info messages to the log;
    - ping the server and treat a connection without any traffic (frames, heartbeats, pongs)
      for ``heartbeat_timeout`` seconds as dead (Kite sends a heartbeat every second), and
      reconnect with exponential backoff and jitter
      (``initial_backoff`` doubling up to ``max_backoff``), resubscribing on the new connection;
    - give up after ``max_retries`` failed reconnection attempts in a row (a connection counts
      as a success once it has delivered any message) or at once when the server rejects the
      credentials: state ``failed`` and :class:`KiteTickerError` from :meth:`run`;
    - never log the API key or access token.

    A malformed frame, or a packet that is not a valid tick (a last price of 0 before the first
    trade), is logged and counted in :attr:`stats`, and the stream goes on. An exception from a
    callback ends :meth:`run` with it (state ``failed``): a consumer bug must not be retried
    against every following frame. A ticker runs once; make a new one to start again.

    Parameters (defaults follow kiteconnect's client): ``tokens`` (at most 3000, duplicates
    dropped); ``mode`` ``"quote"``; ``root`` ``wss://ws.kite.trade``; ``instruments`` gives
    ticks their ``tradingsymbol``; ``max_retries`` 50; ``initial_backoff`` 1 s;
    ``max_backoff`` 60 s; ``heartbeat_timeout`` 10 s; ``connect_timeout`` 30 s (handshake);
    ``close_timeout`` 2 s (waiting for the server's close reply on stop); ``on_state_change``
    is called synchronously with each new :data:`TickerState`.
    """

    def __init__(
        self,
        api_key: str,
        access_token: str,
        *,
        tokens: Sequence[int],
        on_ticks: Callable[[list[MarketTick]], Awaitable[None]],
        mode: TickerMode = "quote",
        root: str = KITE_TICKER_ROOT,
        on_order_update: Callable[[dict], Awaitable[None]] | None = None,
        on_state_change: Callable[[TickerState], None] | None = None,
        instruments: InstrumentMaster | None = None,
        max_retries: int = 50,
        initial_backoff: float = 1.0,
        max_backoff: float = 60.0,
        heartbeat_timeout: float = 10.0,
        connect_timeout: float = 30.0,
        close_timeout: float = 2.0,
    ) -> None:
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {', '.join(_MODES)}, not {mode!r}")
        unique_tokens = list(dict.fromkeys(tokens))
        bad = [t for t in unique_tokens if not isinstance(t, int) or not 0 < t < 2**32]
        if bad:
            raise ValueError(f"instrument tokens must be positive uint32 integers: {bad[:5]}")
        if len(unique_tokens) > MAX_TOKENS_PER_CONNECTION:
            raise ValueError(
                f"{len(unique_tokens)} tokens: Kite allows {MAX_TOKENS_PER_CONNECTION} per connection"
            )
        if max_retries < 0 or initial_backoff < 0 or max_backoff < initial_backoff:
            raise ValueError("need max_retries >= 0 and 0 <= initial_backoff <= max_backoff")
        if heartbeat_timeout <= 0 or connect_timeout <= 0:
            raise ValueError("heartbeat_timeout and connect_timeout must be positive")
        # Both the raw and the URL-encoded forms, since aiohttp errors quote the request URL.
        self._secrets = [s for c in (access_token, api_key) if c for s in (c, quote_plus(c))]
        self._url = f"{root}?{urlencode({'api_key': api_key, 'access_token': access_token})}"
        self._masked_url = f"{root}?api_key=***&access_token=***"
        self._tokens = unique_tokens
        self._mode: TickerMode = mode
        self._on_ticks = on_ticks
        self._callbacks: set[asyncio.Future] = set()
        self._on_order_update = on_order_update
        self._on_state_change = on_state_change
        self._instruments = instruments
        self._max_retries = max_retries
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff
        self._heartbeat_timeout = heartbeat_timeout
        self._connect_timeout = connect_timeout
        self._close_timeout = close_timeout
        self._random = random.Random()
        self._state: TickerState = "idle"
        self._stats = TickerStats()
        self._task: asyncio.Task[None] | None = None
        self._stop_requested = False

    # --- public surface -----------------------------------------------------------------

    @property
    def state(self) -> TickerState:
        return self._state

    @property
    def stats(self) -> TickerStats:
        return self._stats

    @property
    def tokens(self) -> list[int]:
        return list(self._tokens)

    @property
    def mode(self) -> TickerMode:
        return self._mode

    async def run(self) -> None:
        """Stream until :meth:`stop` (returns) or until the ticker gives up (raises)."""
        if self._task is not None:
            raise RuntimeError("KiteTicker.run() can be called only once")
        if self._stop_requested:
            return
        # The connection loop runs in its own task so that stop() can interrupt it anywhere
        # (connecting, backing off, reading) without cancelling the caller of run().
        self._task = asyncio.create_task(self._run_connections(), name="kite-ticker")
        try:
            await asyncio.wait({self._task})
        except asyncio.CancelledError:
            self._task.cancel()
            await asyncio.wait({self._task})
            self._set_state("stopped")
            raise
        if not self._task.cancelled() and self._task.exception() is not None:
            raise self._task.exception()  # type: ignore[misc]
        self._set_state("stopped")

    async def stop(self) -> None:
        """Close the connection cleanly; returns once the ticker has no task left."""
        self._stop_requested = True
        task = self._task
        if task is asyncio.current_task():
            # Called from inside a callback: the loop sees the flag after this message and
            # closes the connection itself (cancelling here would land at a random await).
            return
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})
        # A callback still delivering may be the caller itself; others get a bounded wait.
        pending = self._callbacks - {asyncio.current_task()}
        if pending:
            await asyncio.wait(pending, timeout=CALLBACK_STOP_TIMEOUT)
        if self._state != "failed":
            self._set_state("stopped")

    # --- connection loop ----------------------------------------------------------------

    async def _run_connections(self) -> None:
        failures = 0
        try:
            async with aiohttp.ClientSession() as session:
                self._set_state("connecting")
                while True:
                    healthy = await self._connect_and_stream(session)
                    if self._stop_requested:
                        return
                    failures = 0 if healthy else failures + 1
                    if failures > self._max_retries:
                        raise KiteTickerError(
                            f"gave up after {failures} failed connection attempts in a row "
                            f"to {self._masked_url}"
                        )
                    self._set_state("reconnecting")
                    delay = self._backoff(max(failures, 1))
                    log.info("reconnecting to the Kite ticker in %.2fs (%d failed attempt(s) in "
                             "a row)", delay, failures)
                    await asyncio.sleep(delay)
        except asyncio.CancelledError:
            raise
        except BaseException:
            self._set_state("failed")
            raise

    def _backoff(self, failures: int) -> float:
        ceiling = min(self._max_backoff, self._initial_backoff * 2 ** min(failures - 1, 32))
        return ceiling * self._random.uniform(0.5, 1.0)

    async def _connect_and_stream(self, session: aiohttp.ClientSession) -> bool:
        """One connection's life. True when it delivered traffic (a success, for backoff)."""
        log.info("connecting to %s", self._masked_url)
        try:
            async with asyncio.timeout(self._connect_timeout):
                ws = await session.ws_connect(
                    self._url,
                    heartbeat=self._heartbeat_timeout / 2,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=self._close_timeout),
                )
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status in _CREDENTIALS_REJECTED:
                raise KiteTickerError(
                    f"the Kite ticker rejected the credentials (HTTP {exc.status}): the access "
                    "token is invalid or expired"
                ) from None
            log.warning("Kite ticker handshake failed: HTTP %s %s", exc.status,
                        self._redact(exc.message))
            return False
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("cannot connect to %s: %s", self._masked_url, self._describe(exc))
            return False
        self._stats = replace(self._stats, connections=self._stats.connections + 1)
        try:
            try:
                await self._subscribe(ws)
            except (aiohttp.ClientError, OSError) as exc:
                log.warning("Kite ticker connection lost while subscribing: %s",
                            self._describe(exc))
                return False
            self._set_state("connected")
            log.info("connected to %s; subscribed %d token(s) in %s mode",
                     self._masked_url, len(self._tokens), self._mode)
            return await self._stream(ws)
        finally:
            await ws.close()

    async def _subscribe(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        if not self._tokens:
            return
        await ws.send_str(json.dumps({"a": "subscribe", "v": self._tokens}))
        await ws.send_str(json.dumps({"a": "mode", "v": [self._mode, self._tokens]}))

    async def _stream(self, ws: aiohttp.ClientWebSocketResponse) -> bool:
        received = False
        while not self._stop_requested:  # stop() from a callback takes effect here
            try:
                message = await ws.receive(timeout=self._heartbeat_timeout)
            except TimeoutError:  # before OSError, of which it is a subclass
                log.warning("no traffic from the Kite ticker for %.1fs: treating the connection "
                            "as dead", self._heartbeat_timeout)
                return received
            except (aiohttp.ClientError, OSError) as exc:
                log.warning("Kite ticker connection lost: %s", self._describe(exc))
                return received
            if message.type is aiohttp.WSMsgType.BINARY:
                received = True
                await self._handle_binary(message.data)
            elif message.type is aiohttp.WSMsgType.TEXT:
                received = True
                await self._handle_text(message.data)
            elif message.type is aiohttp.WSMsgType.ERROR:
                log.warning("Kite ticker connection error: %s", self._describe(ws.exception()))
                return received
            else:  # CLOSE, CLOSING, CLOSED
                log.info("Kite ticker connection closed by the server (code %s)", ws.close_code)
                return received
        return received

    # --- messages -----------------------------------------------------------------------

    async def _handle_binary(self, data: bytes) -> None:
        received_at = datetime.now(UTC)
        self._stats = replace(self._stats, frames=self._stats.frames + 1)
        try:
            packets = parse_frame(data)
        except KiteProtocolError as exc:
            self._stats = replace(self._stats, malformed_frames=self._stats.malformed_frames + 1)
            log.error("dropping a malformed Kite ticker frame of %d bytes: %s", len(data), exc)
            return
        ticks: list[MarketTick] = []
        for packet in packets:
            instrument = self._instruments.get(packet.instrument_token) if self._instruments else None
            try:
                ticks.append(packet_to_tick(
                    packet, received_at=received_at,
                    tradingsymbol=instrument.tradingsymbol if instrument else None,
                ))
            except ValidationError as exc:
                self._stats = replace(self._stats, invalid_packets=self._stats.invalid_packets + 1)
                problems = "; ".join(
                    f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
                )
                log.warning("dropping a Kite packet of token %d that is not a valid tick: %s",
                            packet.instrument_token, problems)
        if ticks:
            self._stats = replace(self._stats, ticks=self._stats.ticks + len(ticks))
            await self._deliver(self._on_ticks, ticks)

    async def _deliver(self, callback: Callable[[Any], Awaitable[None]], arg: Any) -> None:
        """Run a callback to its end even when :meth:`stop` cancels the connection loop meanwhile:
        what it sent may be on its way to Kafka already, and must be counted as sent."""
        task = asyncio.ensure_future(callback(arg))
        self._callbacks.add(task)
        task.add_done_callback(self._callbacks.discard)
        await asyncio.shield(task)

    async def _handle_text(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            log.warning("ignoring a Kite ticker text frame that is not JSON (%d chars)", len(text))
            return
        if not isinstance(message, dict):
            log.warning("ignoring a Kite ticker text frame that is not an object")
            return
        kind = message.get("type")
        if kind == "order":
            data = message.get("data")
            if not isinstance(data, dict):
                log.warning("ignoring a Kite order update without a data object")
                return
            self._stats = replace(self._stats, order_updates=self._stats.order_updates + 1)
            if self._on_order_update is not None:
                await self._deliver(self._on_order_update, data)
            else:
                log.debug("order update %s received; no on_order_update callback",
                          data.get("order_id"))
        elif kind == "error":
            log.error("Kite ticker error: %s", self._redact(str(message.get("data"))))
        elif kind == "message":
            log.info("Kite ticker message: %s", self._redact(str(message.get("data"))))
        else:
            log.debug("ignoring a Kite ticker text frame of type %r", kind)

    # --- helpers ------------------------------------------------------------------------

    def _set_state(self, state: TickerState) -> None:
        if state == self._state:
            return
        self._state = state
        log.debug("Kite ticker state: %s", state)
        if self._on_state_change is not None:
            self._on_state_change(state)

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _describe(self, exc: BaseException | None) -> str:
        # aiohttp puts the request URL, with the access token in its query, into messages.
        if exc is None:
            return "unknown error"
        return self._redact(f"{type(exc).__name__}: {exc}")
