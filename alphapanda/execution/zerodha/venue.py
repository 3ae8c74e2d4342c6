"""The live Zerodha venue: orders through Kite Connect's REST API (the official ``kiteconnect`` client).

Safety comes first: the venue places nothing unless it is enabled *and* has credentials, never
places the same order twice (a deterministic tag, checked in today's order book before any
retry), stops at the first sign of an expired session, and never logs a secret.

The ``kiteconnect`` client blocks (``requests``), so every call runs in a small thread pool of
this venue's own; the event loop, and with it every other broker, keeps running while Kite is slow.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Mapping, TypeVar

from kiteconnect import KiteConnect
from pydantic import SecretStr

from alphapanda.execution.circuit_breaker import CircuitBreaker
from alphapanda.execution.rate_limit import RateLimiter
from alphapanda.execution.venue import (
    LIVE_TRADING_DISABLED,
    Failed,
    OrderRequest,
    Submitted,
    Venue,
    VenueEvent,
    WorkingOrder,
)
from alphapanda.execution.zerodha.order_mapping import (
    ErrorKind,
    KiteOrderParams,
    classify_error,
    is_index_token,
    is_our_tag,
    order_tag,
    to_kite_params,
)
from alphapanda.execution.zerodha.order_updates import (
    VENUE_REJECTED,
    OrderUpdateError,
    OrderUpdateTracker,
)
from alphapanda.models import MarketTick

if TYPE_CHECKING:
    from alphapanda.settings import Settings

__all__ = [
    "ZerodhaVenue",
    "InstrumentLookup",
    "DEFAULT_ROOT",
    "INSTRUMENT_NOT_TRADABLE",
    "INVALID_ORDER",
    "VENUE_REJECTED",
    "VENUE_SESSION_INVALID",
    "VENUE_UNAVAILABLE",
    "VENUE_CIRCUIT_OPEN",
]

log = logging.getLogger(__name__)

DEFAULT_ROOT = "https://api.kite.trade"
INSTRUMENT_NOT_TRADABLE = "INSTRUMENT_NOT_TRADABLE"
INVALID_ORDER = "INVALID_ORDER"
VENUE_SESSION_INVALID = "VENUE_SESSION_INVALID"
VENUE_UNAVAILABLE = "VENUE_UNAVAILABLE"
#: Kite failed too often in a row: orders fail at once for a cool-down (circuit_breaker.py).
VENUE_CIRCUIT_OPEN = "VENUE_CIRCUIT_OPEN"

#: instrument token -> (exchange, tradingsymbol), or None when the token cannot be traded
InstrumentLookup = Callable[[int], "tuple[str, str] | None"]

T = TypeVar("T")
_CLOSED = object()


def _secret(value: SecretStr | str | None) -> SecretStr | None:
    """A credential as ``SecretStr``; empty counts as missing."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return SecretStr(value) if value else None


def _describe(exc: BaseException) -> str:
    """An error for logs and health: type and message (Kite and requests never echo tokens)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class ZerodhaVenue(Venue):
    """Places orders on Zerodha through Kite Connect and reports their outcomes.

    Responsibilities:

    - refuse every order with ``LIVE_TRADING_DISABLED`` (no API call) unless enabled with
      credentials;
    - map an :class:`OrderRequest` to Kite parameters (instrument via ``instrument_lookup``);
    - keep to Kite's order rate limits (sliding windows, awaited, never busy-waited);
    - retry transient failures with exponential backoff, looking the order up by its tag in
      today's order book before each retry, so an order is never placed twice;
    - stop on an invalid session until :meth:`reset_session`;
    - turn order updates (websocket or postback) into events on :meth:`updates`.

    Parameters
    ----------
    broker : str, default "zerodha"
        The broker name this venue serves.
    enabled : bool, default False
        ``TRADING__ZERODHA__ENABLED``; False refuses every order.
    api_key, access_token : SecretStr | None
        Kite credentials; either missing also refuses every order.
    api_secret : SecretStr | None
        The Kite app's secret; when set, postbacks must carry Kite's checksum
        ``sha256(order_id + order_timestamp + api_secret)``.
    instrument_lookup : Callable[[int], tuple[str, str] | None] | None
        (exchange, tradingsymbol) of a token, None for a token that cannot be traded. Without
        a lookup no instrument is tradable.
    root : str, default "https://api.kite.trade"
        Kite API root (a local test server in tests; no path prefix, see KITE.md).
    product, variety, validity : str, defaults "MIS", "regular", "DAY"
        Kite order attributes used for every order.
    orders_per_second, orders_per_minute : int, defaults 10 and 400
        Kite's per-account order rate limits.
    rate_limit_margin : float, default 0.05
        Seconds added to each rate window, absorbing the jitter between our permit and the
        request's arrival at Kite.
    timeout : float, default 7.0
        Seconds one HTTP request may take (connect and read) before it counts as failed.
    max_retries : int, default 3
        Retries after the first attempt for transient failures.
    retry_backoff, retry_backoff_max : float, defaults 0.25 and 4.0
        First retry delay in seconds, doubling per retry up to the maximum.
    max_workers : int, default 4
        Threads of this venue's pool for the blocking client (and requests in flight at once).
    verify_ssl : bool, default True
        Verify Kite's TLS certificate. Only a local https test server would turn it off.
    rate_limiter : RateLimiter | None
        Replaces the limiter built from the limits above (tests inject a fake clock).
    """

    live = True

    def __init__(
        self,
        *,
        broker: str = "zerodha",
        enabled: bool = False,
        api_key: SecretStr | str | None = None,
        access_token: SecretStr | str | None = None,
        api_secret: SecretStr | str | None = None,
        instrument_lookup: InstrumentLookup | None = None,
        root: str = DEFAULT_ROOT,
        product: str = "MIS",
        variety: str = "regular",
        validity: str = "DAY",
        orders_per_second: int = 10,
        orders_per_minute: int = 400,
        rate_limit_margin: float = 0.05,
        timeout: float = 7.0,
        max_retries: int = 3,
        retry_backoff: float = 0.25,
        retry_backoff_max: float = 4.0,
        max_workers: int = 4,
        verify_ssl: bool = True,
        rate_limiter: RateLimiter | None = None,
        circuit_failures: int = 5,
        circuit_cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if max_workers < 1:
            raise ValueError("max_workers must be >= 1")
        self.broker = broker
        self._enabled_flag = bool(enabled)
        self._api_key = _secret(api_key)
        self._access_token = _secret(access_token)
        self._api_secret = _secret(api_secret)
        self._instrument_lookup = instrument_lookup
        self._root = root
        self._product = product
        self._variety = variety
        self._validity = validity
        self._timeout = float(timeout)
        self._max_retries = max_retries
        self._retry_backoff = retry_backoff
        self._retry_backoff_max = retry_backoff_max
        self._max_workers = max_workers
        self._verify_ssl = verify_ssl
        self._breaker = CircuitBreaker(threshold=circuit_failures, cooldown=circuit_cooldown)
        self._clock = clock
        self._limiter = rate_limiter or RateLimiter(
            [(orders_per_second, 1.0 + rate_limit_margin), (orders_per_minute, 60.0 + rate_limit_margin)]
        )

        self._tracker = OrderUpdateTracker()
        self._events: asyncio.Queue[Any] = asyncio.Queue()
        self._submitted: dict[str, str] = {}  # our order id -> Kite order id
        self._uncertain: set[str] = set()  # tags whose placement outcome is unknown
        self._book: dict[str, dict] = {}  # tag -> today's order-book row, for our tags
        self._book_loaded = False
        self._book_lock = asyncio.Lock()
        self._order_locks: dict[str, asyncio.Lock] = {}
        self._order_lock_users: dict[str, int] = {}
        self._slots = asyncio.Semaphore(max_workers)

        self._session_valid = True
        self._degraded = False
        self._last_error: str | None = None
        self._orders_placed = 0

        self._executor: ThreadPoolExecutor | None = None
        self._thread_state = threading.local()
        self._client_generation = itertools.count(1)
        self._generation = next(self._client_generation)
        self._clients: list[KiteConnect] = []
        self._clients_lock = threading.Lock()

    @classmethod
    def from_settings(
        cls,
        settings: "Settings",
        instrument_lookup: InstrumentLookup | None,
        *,
        broker: str = "zerodha",
        **options: Any,
    ) -> "ZerodhaVenue":
        """The venue as configured by ``TRADING__ZERODHA__ENABLED`` and ``ZERODHA__*``."""
        return cls(
            broker=broker,
            enabled=settings.trading.zerodha.enabled,
            api_key=settings.zerodha.api_key,
            access_token=settings.zerodha.access_token,
            api_secret=settings.zerodha.api_secret,
            instrument_lookup=instrument_lookup,
            timeout=settings.zerodha.timeout,
            max_retries=settings.zerodha.max_retries,
            circuit_failures=settings.zerodha.circuit_failures,
            circuit_cooldown=settings.zerodha.circuit_cooldown_seconds,
            **options,
        )

    # State ---------------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        """True when orders go to Kite: enabled by setting and both credentials present."""
        return self._enabled_flag and self._api_key is not None and self._access_token is not None

    @property
    def session_valid(self) -> bool:
        """False after Kite said the access token is invalid, until :meth:`reset_session`."""
        return self._session_valid

    def reset_session(self, access_token: SecretStr | str) -> None:
        """Use a new access token (after a fresh login) and accept orders again."""
        token = _secret(access_token)
        if token is None:
            raise ValueError("access_token must not be empty")
        self._access_token = token
        self._generation = next(self._client_generation)  # every thread builds a new client
        self._session_valid = True
        log.info("%s: Kite session reset; accepting orders again", self.broker)

    def remember(self, order_id: str, *, venue_order_id: str | None = None,
                 filled_quantity: int = 0) -> None:
        """Re-adopt an order placed before a restart (from our order table), so its updates map
        back to ``order_id`` and only fills beyond ``filled_quantity`` are reported."""
        self._tracker.register(order_id, filled_quantity=filled_quantity, venue_order_id=venue_order_id)
        if venue_order_id:
            self._submitted[order_id] = str(venue_order_id)

    def health(self) -> dict:
        if not self.enabled:
            status = "disabled"
        elif not self._session_valid:
            status = "session_invalid"
        elif not self._breaker.allows(self._clock()):
            status = "circuit_open"
        elif self._degraded:
            status = "degraded"
        else:
            status = "ok"
        return {
            "status": status,
            "enabled": self.enabled,
            "session_valid": self._session_valid,
            "last_error": self._last_error,
            "orders_placed": self._orders_placed,
            "circuit": self._breaker.as_dict(self._clock()),
        }

    # Lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._ensure_executor()

    async def stop(self) -> None:
        """End the update stream and shut the thread pool down (waiting off the event loop for
        requests in flight, which end within ``timeout``)."""
        self._events.put_nowait(_CLOSED)
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(
                None, partial(executor.shutdown, wait=True, cancel_futures=True)
            )
        with self._clients_lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.reqsession.close()

    # Orders -------------------------------------------------------------------------------

    async def place(self, order: OrderRequest, market: MarketTick | None = None) -> list[VenueEvent]:
        """Place ``order`` on Kite; idempotent per ``order.order_id`` (concurrent calls for one
        order wait for each other; an order already accepted is reported, not placed again)."""
        key = order.order_id
        lock = self._order_locks.setdefault(key, asyncio.Lock())
        self._order_lock_users[key] = self._order_lock_users.get(key, 0) + 1
        try:
            async with lock:
                return await self._place(order)
        finally:
            self._order_lock_users[key] -= 1
            if not self._order_lock_users[key]:
                del self._order_lock_users[key]
                del self._order_locks[key]

    async def _place(self, order: OrderRequest) -> list[VenueEvent]:
        order_id = order.order_id
        if not self.enabled:
            why = ("live trading is disabled (TRADING__ZERODHA__ENABLED=false)"
                   if not self._enabled_flag else "Kite credentials are not configured")
            return [Failed(order_id, LIVE_TRADING_DISABLED, why)]
        if order_id in self._submitted:
            return [Submitted(order_id, self._submitted[order_id])]
        if not self._session_valid:
            return [Failed(order_id, VENUE_SESSION_INVALID,
                           "Kite session is invalid; waiting for a new access token", halts_trading=True)]

        instrument = self._instrument(order.instrument_token)
        if instrument is None:
            return [Failed(order_id, INSTRUMENT_NOT_TRADABLE,
                           f"instrument {order.instrument_token} is not tradable on {self.broker}")]
        try:
            params = to_kite_params(order, instrument, product=self._product,
                                    variety=self._variety, validity=self._validity)
        except ValueError as exc:
            return [Failed(order_id, INVALID_ORDER, str(exc))]

        if (refused := self._circuit_refusal(order_id)) is not None:
            return [refused]
        # Registered before the request: an order update may arrive before the response does.
        tag = self._tracker.register(order_id)
        fresh_book = tag in self._uncertain
        last_error = "no attempt made"
        for attempt in range(self._max_retries + 1):
            if attempt:
                await asyncio.sleep(self._backoff(attempt))
                fresh_book = True
                if (refused := self._circuit_refusal(order_id)) is not None:
                    # Uncertain stays marked: a later try looks the tag up in the order book first.
                    return [refused]
            try:
                existing = await self._book_row(tag, fresh=fresh_book)
                if existing is not None:
                    return self._adopt(order_id, tag, existing)
                self._uncertain.add(tag)
                venue_order_id = await self._send_order(params)
            except Exception as exc:  # classified below; nothing is swallowed
                kind = classify_error(exc)
                if kind is ErrorKind.SESSION_INVALID:
                    self._invalidate_session(exc)
                    return [Failed(order_id, VENUE_SESSION_INVALID, _describe(exc), halts_trading=True)]
                if kind is ErrorKind.REJECTED:
                    self._uncertain.discard(tag)
                    self._last_error = _describe(exc)
                    log.warning("%s: Kite rejected order %s: %s", self.broker, order_id, self._last_error)
                    return [Failed(order_id, VENUE_REJECTED, str(exc) or type(exc).__name__)]
                last_error = _describe(exc)
                self._last_error = last_error
                log.warning("%s: order %s attempt %d/%d failed (%s)", self.broker, order_id,
                            attempt + 1, self._max_retries + 1, last_error)
                if self._breaker.failed(self._clock()):
                    log.error("%s: Kite failed %d times in a row; orders fail at once (%s) for %.0f s",
                              self.broker, self._breaker.failures, VENUE_CIRCUIT_OPEN, self._breaker.cooldown)
                continue
            self._breaker.succeeded()
            self._uncertain.discard(tag)
            log.info("%s: placed order %s as Kite order %s (tag %s)",
                     self.broker, order_id, venue_order_id, tag)
            return [self._accepted(order_id, venue_order_id)]

        self._degraded = True
        log.error("%s: giving up on order %s after %d attempts: %s",
                  self.broker, order_id, self._max_retries + 1, last_error)
        return [Failed(order_id, VENUE_UNAVAILABLE,
                       f"Kite unavailable after {self._max_retries + 1} attempts: {last_error}")]

    def _circuit_refusal(self, order_id: str) -> Failed | None:
        now = self._clock()
        if self._breaker.allows(now):
            return None
        return Failed(order_id, VENUE_CIRCUIT_OPEN,
                      f"Kite failed {self._breaker.failures} times in a row; orders fail at once for "
                      f"{self._breaker.retry_in(now):.0f} s more (last error: {self._last_error})")

    def _instrument(self, instrument_token: int) -> tuple[str, str] | None:
        if self._instrument_lookup is None or is_index_token(instrument_token):
            return None
        try:
            return self._instrument_lookup(instrument_token)
        except Exception:
            log.exception("%s: instrument lookup failed for %s", self.broker, instrument_token)
            return None

    def _backoff(self, attempt: int) -> float:
        return min(self._retry_backoff * 2 ** (attempt - 1), self._retry_backoff_max)

    def _accepted(self, order_id: str, venue_order_id: str) -> Submitted:
        self._submitted[order_id] = venue_order_id
        self._tracker.register(order_id, venue_order_id=venue_order_id)
        self._orders_placed += 1
        self._degraded = False
        return Submitted(order_id, venue_order_id)

    def _adopt(self, order_id: str, tag: str, row: dict) -> list[VenueEvent]:
        """Take an order found in the book by its tag instead of placing it again."""
        self._uncertain.discard(tag)
        venue_order_id = str(row.get("order_id"))
        log.info("%s: order %s already at Kite as %s (tag %s); not placing it again",
                 self.broker, order_id, venue_order_id, tag)
        events: list[VenueEvent] = [self._accepted(order_id, venue_order_id)]
        try:
            events.extend(self._tracker.parse_order_update(row))
        except OrderUpdateError as exc:
            log.warning("%s: order-book row of %s unreadable: %s", self.broker, order_id, exc)
        return events

    def _invalidate_session(self, exc: BaseException) -> None:
        self._session_valid = False
        self._last_error = _describe(exc)
        log.error("%s: Kite session invalid (%s); orders fail until reset_session()",
                  self.broker, self._last_error)

    # Kite calls ---------------------------------------------------------------------------

    async def _book_row(self, tag: str, *, fresh: bool) -> dict | None:
        """Today's order-book row carrying ``tag``. The book is read once per process and again
        whenever a placement's outcome is unknown (``fresh``)."""
        if fresh or not self._book_loaded:
            async with self._book_lock:
                if fresh or not self._book_loaded:
                    rows = await self._call(lambda kite: kite.orders())
                    book = {row["tag"]: row for row in rows
                            if isinstance(row, dict) and is_our_tag(row.get("tag"))}
                    self._book.update(book)
                    self._book_loaded = True
        return self._book.get(tag)

    async def _send_order(self, params: KiteOrderParams) -> str:
        kwargs = params.as_kwargs()
        return str(await self._call(lambda kite: kite.place_order(**kwargs), rate_limited=True))

    async def _call(self, fn: Callable[[KiteConnect], T], *, rate_limited: bool = False) -> T:
        """Run ``fn(client)`` in the venue's thread pool. A slot is taken before the rate permit,
        so a permitted request leaves at once instead of queueing for a thread."""
        async with self._slots:
            if rate_limited:
                await self._limiter.acquire()
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._ensure_executor(), self._in_thread, fn)

    def _ensure_executor(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._max_workers, thread_name_prefix=f"{self.broker}-kite")
        return self._executor

    def _in_thread(self, fn: Callable[[KiteConnect], T]) -> T:
        # requests.Session is not thread-safe: one client per pool thread, rebuilt after a reset.
        state = self._thread_state
        if getattr(state, "generation", None) != self._generation:
            old = getattr(state, "client", None)
            if old is not None:
                old.reqsession.close()
            assert self._api_key is not None and self._access_token is not None
            client = KiteConnect(
                self._api_key.get_secret_value(),
                access_token=self._access_token.get_secret_value(),
                root=self._root,
                timeout=self._timeout,
                disable_ssl=not self._verify_ssl,
            )
            with self._clients_lock:
                if old is not None and old in self._clients:
                    self._clients.remove(old)
                self._clients.append(client)
            state.client, state.generation = client, self._generation
        return fn(state.client)

    # Order updates ------------------------------------------------------------------------

    async def submit_order_update(self, payload: dict) -> list[VenueEvent]:
        """Feed one order update (websocket frame or postback dict); its events go to
        :meth:`updates` and are returned. Raises ``OrderUpdateError`` for a malformed update of
        one of our orders. Call it on the event loop (from another thread, via
        ``loop.call_soon_threadsafe``/``run_coroutine_threadsafe``)."""
        events = self._tracker.parse_order_update(payload)
        for event in events:
            self._events.put_nowait(event)
        return events

    def order_ref(self, order_id: str) -> str:
        """Kite updates carry our orders' tag (see :func:`order_tag`)."""
        return order_tag(order_id)

    def update_ref(self, payload: Mapping[str, Any]) -> str | None:
        data = _order_data(payload)
        if data is None:
            return None
        tag = data.get("tag")
        return tag if is_our_tag(tag) else None

    async def on_update(self, order: WorkingOrder, payload: Mapping[str, Any]) -> list[VenueEvent]:
        """Events of one update of ``order``, measured against what the orders table knows (not
        this process's memory), so they are right after a restart and on redelivery.

        Raises ``OrderUpdateError`` for a malformed update."""
        tracker = OrderUpdateTracker()
        tracker.register(order.request.order_id, filled_quantity=order.filled_quantity,
                         average_price=order.average_fill_price)
        return tracker.parse_order_update(payload)

    def postback_refusal(self) -> str | None:
        """Without the app's secret a postback's checksum cannot be checked: postbacks are off."""
        if self._api_secret is None:
            return "postbacks are off: ZERODHA__API_SECRET is unset, so their checksum cannot be verified"
        return None

    def postback_error(self, payload: Mapping[str, Any]) -> str | None:
        """Kite signs a postback with ``checksum = sha256(order_id + order_timestamp + api_secret)``."""
        if not isinstance(payload, Mapping) or not payload.get("order_id"):
            return "a postback is an order object with an order_id"
        if (refusal := self.postback_refusal()) is not None:
            return refusal
        expected = hashlib.sha256(
            (str(payload["order_id"]) + str(payload.get("order_timestamp") or "")
             + self._api_secret.get_secret_value()).encode("utf-8")
        ).hexdigest()
        checksum = payload.get("checksum")
        if not isinstance(checksum, str) or not hmac.compare_digest(checksum.lower(), expected):
            return "checksum does not match"
        return None

    def updates(self) -> AsyncIterator[VenueEvent]:
        """The events of order updates, in arrival order, until :meth:`stop` (one consumer)."""
        return self._iterate_updates()

    async def _iterate_updates(self) -> AsyncIterator[VenueEvent]:
        while True:
            item = await self._events.get()
            if item is _CLOSED:
                return
            yield item

    def tag_for(self, order_id: str) -> str:
        """The Kite tag of ``order_id`` (see :func:`order_tag`)."""
        return order_tag(order_id)


def _order_data(payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The order object of an update: a websocket frame's ``data``, or the payload itself."""
    if not isinstance(payload, Mapping):
        return None
    if "type" in payload and "data" in payload and "status" not in payload:
        data = payload.get("data") if payload.get("type") == "order" else None
        return data if isinstance(data, Mapping) else None
    return payload
