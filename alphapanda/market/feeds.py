"""Market feeds behind one interface: simulated, replayed tape, Zerodha KiteTicker.

A feed publishes validated ``market_tick`` envelopes to ``market.ticks`` through a
:class:`TickSink` (in production the batching :class:`~alphapanda.market.publisher.TickPublisher`),
keyed by instrument token so order per instrument is preserved, and keeps its :class:`FeedState`
current for health. :class:`FeedRunner` runs one feed at a time and owns the state transitions
(running on start; not running on stop, on the end of a tape and when the feed gives up).

- :class:`SimulatedFeed`: a seeded :class:`SimulatedMarket` on an event-time schedule: tick ``i``
  is stamped ``start + i / rate``. ``start`` is the wall clock when the feed starts (shown in the
  state), so the same seed, start and rate give the same ticks.
- :class:`ReplayFeed`: a JSONL tape; invalid lines become dead letters on ``market.ticks.dlq``.
- :class:`KiteFeed`: Zerodha's live ticker; order-update text frames go to
  ``zerodha.orders.updates`` as ``venue_order_update`` events for the execution lane.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import os
import socket
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from alphapanda.market.hours import MarketHours
from alphapanda.market.instruments import (
    InstrumentMaster,
    UnknownInstrumentError,
    load_instrument_master,
)
from alphapanda.market.publisher import tick_envelope
from alphapanda.market.simulated import SimInstrument, SimulatedMarket, default_instruments
from alphapanda.market.tape import InvalidTapeLine, TapeLine, TapeTick, pace, read_tape
from alphapanda.models import Envelope, EventType, MarketTick, VenueOrderUpdate
from alphapanda.models.wire import encode_event
from alphapanda.reliability.dead_letters import dead_letter_for
from alphapanda.topics import MARKET_TICKS, BrokerTopics, account_of, dlq_of

__all__ = [
    "FeedConfigError",
    "FeedState",
    "TickSink",
    "MarketFeed",
    "FeedRunner",
    "SimulatedFeed",
    "ReplayFeed",
    "ReplayProgress",
    "KiteFeed",
    "build_feed",
    "simulated_instruments",
    "kite_tokens",
    "tape_event_id",
    "worker_identity",
    "DEPTH_MAX_RATE",
]

log = logging.getLogger(__name__)

#: The simulated feed publishes order books up to this rate (ticks/s) unless told otherwise:
#: a book triples the cost of a tick (about 95 against 20 microseconds here).
DEPTH_MAX_RATE = 500.0


def _content_id(kind: bytes, text: str) -> str:
    """A 32-hex-digit id that only this content has (blake2b: a few microseconds per tick)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16, person=kind).hexdigest()


class FeedConfigError(ValueError):
    """A feed cannot be built from the settings; the message names the variable."""


def worker_identity() -> str:
    """``host:pid``: which worker process publishes the feed (two workers of one host differ)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


@dataclass
class FeedState:
    """What health shows of this worker's feed.

    ``running`` is true only while the feed publishes (or waits for the market to open);
    ``error`` is set when the feed gave up, and cleared when it starts again. Counters are
    cumulative for the life of the worker: ``published`` ticks, ``invalid`` tape lines sent to
    the DLQ, ``held_back`` ticks not published because the market was closed, and
    ``order_updates`` published for the execution lane.
    """

    kind: str
    worker: str | None = None
    running: bool = False
    started_at: datetime | None = None
    stopped_reason: str | None = None
    error: str | None = None
    published: int = 0
    invalid: int = 0
    held_back: int = 0
    order_updates: int = 0
    last_tick_at: datetime | None = None
    connection: str | None = None
    market_open: bool | None = None
    schedule_start: datetime | None = None

    def mark_running(self, at: datetime) -> None:
        self.running, self.started_at, self.stopped_reason, self.error = True, at, None, None

    def mark_stopped(self, reason: str) -> None:
        self.running, self.stopped_reason = False, reason

    def mark_failed(self, error: str) -> None:
        self.running, self.error, self.stopped_reason = False, error, "failed"

    def record_ticks(self, count: int, last_at: datetime | None) -> None:
        self.published += count
        if last_at is not None:
            self.last_tick_at = last_at

    def as_dict(self) -> dict:
        return {
            "kind": self.kind, "worker": self.worker, "running": self.running,
            "started_at": _iso(self.started_at), "stopped_reason": self.stopped_reason,
            "error": self.error, "published": self.published, "invalid": self.invalid,
            "held_back": self.held_back, "order_updates": self.order_updates,
            "last_tick_at": _iso(self.last_tick_at), "connection": self.connection,
            "market_open": self.market_open, "schedule_start": _iso(self.schedule_start),
        }


class TickSink(Protocol):
    """Where feeds publish; :class:`~alphapanda.market.publisher.TickPublisher` is the real one."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def publish(self, events: Iterable[Envelope], *, wait: bool = True) -> int: ...
    async def publish_raw(
        self, key: bytes | None, value: bytes, topic: str | None = None
    ) -> Awaitable[Any]: ...


class MarketFeed(Protocol):
    """Publishes until it is stopped, its source ends (returns) or it gives up (raises)."""

    async def run(self, sink: TickSink, state: FeedState) -> None: ...
    async def stop(self) -> None: ...


class _Stoppable:
    """A stop flag that also interrupts the feed's sleeps."""

    def __init__(self) -> None:
        self._stopping = asyncio.Event()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def stop(self) -> None:
        self._stopping.set()

    async def _sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except asyncio.TimeoutError:
            pass


# --- simulated --------------------------------------------------------------------------------


class SimulatedFeed(_Stoppable):
    """Ticks of a seeded :class:`SimulatedMarket` at ``rate`` per second, on an event-time schedule.

    Tick ``i`` of a run is stamped ``start + i / rate`` and published when the wall clock reaches
    it, in batches of at most ``1 / max_sends`` seconds of ticks. ``start`` defaults to the wall
    clock at :meth:`run`; it is in the state (``schedule_start``), so a run can be reproduced
    with ``SimulatedMarket(instruments, seed).ticks(start, rate)``. A feed that cannot keep up
    falls behind the wall clock rather than changing the schedule. With ``hours``, nothing is
    published while the market is closed; the schedule restarts at the next open.
    """

    source = "simulated_feed"

    def __init__(
        self,
        market: SimulatedMarket,
        rate: float,
        *,
        start: datetime | None = None,
        hours: MarketHours | None = None,
        max_sends: float = 50.0,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        super().__init__()
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError("rate must be a finite number > 0")
        self.market = market
        self.rate = rate
        self.start = start
        self.hours = hours
        self.max_sends = max_sends
        self._clock = clock

    async def run(self, sink: TickSink, state: FeedState) -> None:
        loop = asyncio.get_running_loop()
        min_interval = 1.0 / self.max_sends
        max_batch = max(1, math.ceil(self.rate))
        start = self.start
        while not self.stopping:
            if not await self._wait_for_open(state):
                return
            start = start or self._clock()
            state.schedule_start = start
            schedule = self.market.ticks(start, self.rate)
            anchor, index = loop.time(), 0
            while not self.stopping:
                if self.hours is not None and not self.hours.is_open(self._clock()):
                    start = None  # the next session gets a schedule of its own
                    break
                # At most a second of ticks per send: a feed that fell behind catches up in steps.
                due = min(int((loop.time() - anchor) * self.rate) + 1 - index, max_batch)
                if due > 0:
                    events = [tick_envelope(next(schedule), source=self.source) for _ in range(due)]
                    await sink.publish(events)
                    index += due
                    state.record_ticks(len(events), events[-1].data.timestamp)
                next_at = anchor + index / self.rate
                await self._sleep(max(next_at - loop.time(), min_interval))

    async def _wait_for_open(self, state: FeedState) -> bool:
        """Sleeps until the market opens (when hours apply); False when stopped meanwhile."""
        while self.hours is not None and not self.stopping:
            now = self._clock()
            state.market_open = self.hours.is_open(now)
            if state.market_open:
                return True
            # Re-check at least every minute: a suspended laptop must not oversleep the open.
            await self._sleep(min(60.0, (self.hours.next_open(now) - now).total_seconds()))
        return not self.stopping


# --- replay -----------------------------------------------------------------------------------


def tape_event_id(line: TapeLine) -> str:
    """The id of a tape line's event: the envelope's own, else derived from line number and text.

    Derived ids make a replay reproducible: the same tape gives the same events (and the stages
    downstream the same signal, order and fill ids), so replaying it again is a redelivery.
    """
    if isinstance(line, TapeTick) and line.envelope_id:
        return line.envelope_id
    return _content_id(b"tape-line", f"{line.line_no}\n{line.raw}")


def _token_of(raw: str) -> str | None:
    """The instrument token of an invalid line, when one can be read (for the DLQ key)."""
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    if isinstance(obj, dict) and isinstance(obj.get("data"), dict):
        obj = obj["data"]
    token = obj.get("instrument_token") if isinstance(obj, dict) else None
    if isinstance(token, int) and not isinstance(token, bool) and token > 0:
        return str(token)
    if isinstance(token, str) and token.isdigit() and int(token) > 0:
        return token
    return None


def _dead_letter(line: InvalidTapeLine) -> tuple[bytes | None, bytes]:
    token = _token_of(line.raw)
    key = token.encode() if token is not None else None
    letter = dead_letter_for(
        topic=MARKET_TICKS, partition=None, offset=None, key=key, value=line.raw.encode("utf-8"),
        error_type=line.error_type, error=f"line {line.line_no}: {line.reason}",
        service="replay", attempts=1, broker=None,
    )
    # Without a partition and offset the default id would be the same for every line.
    letter_id = f"dlq-replay-{tape_event_id(line)}"
    letter = letter.model_copy(update={"id": letter_id, "correlation_id": letter_id})
    return key, encode_event(letter)


@dataclass(frozen=True, slots=True)
class ReplayProgress:
    """Where a replay is: lines read, ticks and dead letters acknowledged, seconds elapsed."""

    lines: int
    published: int
    invalid: int
    elapsed: float
    done: bool = False

    @property
    def rate(self) -> float:
        """Ticks per second so far."""
        return self.published / self.elapsed if self.elapsed > 0 else 0.0


class ReplayFeed(_Stoppable):
    """Publishes a JSONL tape (tick payloads or envelopes) to ``market.ticks``, then returns.

    ``speed`` 0 sends as fast as the broker takes it, with up to ``window`` messages in flight;
    1 follows the tick timestamps in real time, 2 twice as fast (``max_wait`` caps one wait, e.g.
    a night between sessions). A line that is not a valid tick goes to ``market.ticks.dlq`` as a
    dead letter with its reason, keyed by its token when one can be read, and the replay goes on.
    Envelope lines keep their id; payload lines get ids derived from the line (:func:`tape_event_id`).
    ``on_progress`` is called about every ``progress_every`` lines and once at the end.
    """

    source = "replay"

    def __init__(
        self,
        path: Path | str,
        *,
        speed: float = 0.0,
        max_wait: float | None = None,
        window: int = 5000,
        on_progress: Callable[[ReplayProgress], None] | None = None,
        progress_every: int = 1000,
    ) -> None:
        super().__init__()
        if not (math.isfinite(speed) and speed >= 0):
            raise ValueError("speed must be a finite number >= 0")
        if window < 1:
            raise ValueError("window must be >= 1")
        self.path = Path(path)
        self.speed = speed
        self.max_wait = max_wait
        self.window = window
        self.on_progress = on_progress
        self.progress_every = max(1, progress_every)
        self.last_progress: ReplayProgress | None = None

    async def run(self, sink: TickSink, state: FeedState) -> None:
        if not self.path.is_file():
            raise FileNotFoundError(f"replay tape {self.path} does not exist")
        loop = asyncio.get_running_loop()
        started = loop.time()
        # (future, the tick's timestamp or None for a dead letter), in send order.
        pending: deque[tuple[Awaitable[Any], datetime | None]] = deque()
        lines = 0
        dlq = dlq_of(MARKET_TICKS)

        async def settle(keep: int) -> None:
            while len(pending) > keep:
                future, tick_at = pending.popleft()
                await future
                if tick_at is None:
                    state.invalid += 1
                else:
                    state.record_ticks(1, tick_at)

        def progress(done: bool = False) -> None:
            self.last_progress = ReplayProgress(
                lines, state.published - published_before, state.invalid - invalid_before,
                loop.time() - started, done,
            )
            if self.on_progress is not None:
                self.on_progress(self.last_progress)

        published_before, invalid_before = state.published, state.invalid
        for paced in pace(read_tape(self.path), self.speed, self.max_wait):
            if self.stopping:
                break
            if paced.wait > 0:
                await settle(0)  # acknowledged before idling, so the state is current
                await self._sleep(started + paced.offset - loop.time())
                if self.stopping:
                    break
            line = paced.line
            if isinstance(line, TapeTick):
                event = tick_envelope(line.tick, source=self.source, event_id=tape_event_id(line))
                future = await sink.publish_raw(line.key.encode(), encode_event(event))
                pending.append((future, line.tick.timestamp))
            else:
                key, value = _dead_letter(line)
                pending.append((await sink.publish_raw(key, value, topic=dlq), None))
            lines += 1
            if len(pending) >= self.window:
                await settle(self.window // 2)
            if lines % self.progress_every == 0:
                progress()
                await asyncio.sleep(0)  # a long tape must not starve the rest of the worker
        await settle(0)
        progress(done=True)


# --- Zerodha KiteTicker -------------------------------------------------------------------------


class KiteFeed(_Stoppable):
    """Zerodha's live ticker: ticks to ``market.ticks``, order updates to the execution lane.

    Responsibilities: stream ``tokens`` in ``mode`` with :class:`KiteTicker` (reconnecting with
    backoff and resubscribing once per connection); give ticks their ``tradingsymbol`` from the
    instrument master; with ``hours``, publish ticks only while the market is open. It stays
    connected outside hours, so order updates (e.g. the cancellations after the close) still
    arrive; ticks outside hours are counted in ``held_back``. Order-update text frames are
    published as ``venue_order_update`` events to ``order_updates_topic`` keyed by the zerodha
    account (none when zerodha is not an active broker: they are then logged and counted only).
    Credentials are never logged; :meth:`run` raises when the ticker gives up.
    """

    source = "kite_feed"

    def __init__(
        self,
        api_key: str,
        access_token: str,
        *,
        tokens: Sequence[int],
        mode: str = "quote",
        root: str = "wss://ws.kite.trade",
        instruments: InstrumentMaster | None = None,
        hours: MarketHours | None = None,
        order_updates_topic: str | None = None,
        ticker_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if not tokens:
            raise ValueError("the kite feed needs at least one instrument token")
        self._api_key = api_key
        self._access_token = access_token
        self.tokens = list(tokens)
        self.mode = mode
        self.root = root
        self.instruments = instruments
        self.hours = hours
        self.order_updates_topic = order_updates_topic
        self.ticker_options = dict(ticker_options or {})
        self.ticker = None
        self._ignored_updates = 0

    def __repr__(self) -> str:  # never the credentials
        return f"KiteFeed(tokens={len(self.tokens)}, mode={self.mode!r}, root={self.root!r})"

    async def run(self, sink: TickSink, state: FeedState) -> None:
        from alphapanda.market.kite.ticker import KiteTicker

        if self.stopping:
            return

        async def on_ticks(ticks: list[MarketTick]) -> None:
            if self.hours is not None:
                is_open = self.hours.is_open
                tradable = [t for t in ticks if is_open(t.timestamp)]
                state.held_back += len(ticks) - len(tradable)
                if ticks:
                    state.market_open = bool(tradable)
                ticks = tradable
            if ticks:
                await sink.publish([tick_envelope(t, source=self.source) for t in ticks])
                state.record_ticks(len(ticks), ticks[-1].timestamp)

        async def on_order_update(data: dict) -> None:
            await self._publish_order_update(sink, state, data)

        def on_state_change(connection: str) -> None:
            state.connection = connection

        self.ticker = KiteTicker(
            self._api_key, self._access_token, tokens=self.tokens, mode=self.mode,
            root=self.root, instruments=self.instruments, on_ticks=on_ticks,
            on_order_update=on_order_update, on_state_change=on_state_change,
            **self.ticker_options,
        )
        if self.stopping:  # stop() came while we were building the ticker
            return
        await self.ticker.run()

    async def stop(self) -> None:
        await super().stop()
        if self.ticker is not None:
            await self.ticker.stop()

    async def _publish_order_update(self, sink: TickSink, state: FeedState, data: dict) -> None:
        if self.order_updates_topic is None:
            self._ignored_updates += 1
            if self._ignored_updates == 1:
                log.warning("Kite order updates are not published: zerodha is not an active broker")
            return
        # Identical frames get identical ids, so a resent update is recognisably the same event.
        event_id = _content_id(b"kite-order", json.dumps(data, sort_keys=True, default=str))
        event = Envelope[VenueOrderUpdate](
            id=event_id, type=EventType.VENUE_ORDER_UPDATE, correlation_id=event_id,
            source=self.source, broker="zerodha",
            data=VenueOrderUpdate(via="websocket", payload=data),
        )
        future = await sink.publish_raw(
            account_of("zerodha").encode(), encode_event(event), topic=self.order_updates_topic
        )
        await future
        state.order_updates += 1


# --- one worker's feed at a time ----------------------------------------------------------------


class FeedRunner:
    """Runs at most one feed at a time and keeps its :class:`FeedState` right.

    - :meth:`start` opens a sink, builds the feed and runs it in a task; the state is running
      once the sink is up, with ``error`` cleared.
    - The feed's end sets ``stopped_reason`` ``finished`` (a tape replayed to its end); a failure
      (the ticker giving up, a bad tape path, the sink failing) sets ``error`` and ``failed``. A
      feed that ended stays ended until :meth:`stop` (e.g. on loss of leadership) and a new start.
    - :meth:`stop` asks the feed to stop, waits up to ``stop_timeout`` seconds, then cancels;
      it returns when no task of the feed is left and the sink is closed. It also clears the
      error of a failed feed: a worker that no longer runs the feed is not degraded by it.
    """

    def __init__(
        self,
        make_feed: Callable[[], MarketFeed],
        make_sink: Callable[[], TickSink],
        state: FeedState,
        *,
        stop_timeout: float = 5.0,
        on_change: Callable[[FeedState], None] | None = None,
    ) -> None:
        self._make_feed = make_feed
        self._make_sink = make_sink
        self.state = state
        self.stop_timeout = stop_timeout
        self._on_change = on_change or (lambda state: None)
        self._task: asyncio.Task[None] | None = None
        self._feed: MarketFeed | None = None
        self._stop_reason: str | None = None

    @property
    def active(self) -> bool:
        """A feed was started and not stopped since (it may have finished or failed)."""
        return self._task is not None

    def start(self) -> None:
        if self._task is None:
            self._stop_reason = None
            self._task = asyncio.get_running_loop().create_task(self._run(), name="market-feed")

    async def stop(self, reason: str) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stop_reason = reason
        if not task.done():
            feed = self._feed
            if feed is not None:  # a graceful stop first; a feed still starting is just cancelled
                await feed.stop()
                await asyncio.wait({task}, timeout=self.stop_timeout)
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
        if self.state.running or self.state.error is not None:
            # A failure is this worker's business only while it is meant to run the feed: once
            # stopped (e.g. leadership moved on), the failure stays in the log, not in health.
            self.state.mark_stopped(reason)
            self.state.error = None
            self._on_change(self.state)

    async def _run(self) -> None:
        sink: TickSink | None = None
        try:
            sink = self._make_sink()
            await sink.start()
            self._feed = self._make_feed()
            self.state.mark_running(datetime.now(timezone.utc))
            self._on_change(self.state)
            log.info("market feed %s started on %s", self.state.kind, self.state.worker)
            await self._feed.run(sink, self.state)
            self.state.mark_stopped(self._stop_reason or "finished")
        except asyncio.CancelledError:
            self.state.mark_stopped(self._stop_reason or "cancelled")
            raise
        except Exception as exc:  # any failure must show in health, never end silently
            log.error("market feed %s failed: %s", self.state.kind, exc)
            self.state.mark_failed(f"{type(exc).__name__}: {exc}")
        finally:
            self._feed = None
            self._on_change(self.state)
            if sink is not None:
                try:
                    await sink.stop()
                except Exception as exc:
                    log.warning("closing the market feed's producer failed: %r", exc)


# --- building a feed from the settings -----------------------------------------------------------


def _split_price(entry: str, variable: str) -> tuple[str, float | None]:
    name, at, price_text = entry.partition("@")
    if not at:
        return entry.strip(), None
    try:
        price = float(price_text)
    except ValueError:
        price = float("nan")
    if not (math.isfinite(price) and price > 0):
        raise FeedConfigError(f"{variable}: {entry!r}: the start price must be a number > 0")
    return name.strip(), price


def _resolve_token(name: str, master: InstrumentMaster, variable: str) -> int:
    """A token from ``TOKEN``, ``SYMBOL`` (NSE) or ``EXCHANGE:SYMBOL``."""
    if name.isdigit():
        token = int(name)
        if not 0 < token < 2**32:
            raise FeedConfigError(f"{variable}: {name!r} is not an instrument token")
        return token
    exchange, colon, symbol = name.partition(":")
    if not colon:
        exchange, symbol = "NSE", name
    try:
        return master.by_symbol(exchange.upper(), symbol).instrument_token
    except UnknownInstrumentError:
        raise FeedConfigError(f"{variable}: {name!r} is not in the instrument master") from None


def simulated_instruments(
    entries: Sequence[str], master: InstrumentMaster, *, variable: str = "SIMULATION__INSTRUMENTS"
) -> list[SimInstrument]:
    """The instruments of ``SIMULATION__INSTRUMENTS``; the bundled defaults when empty.

    An entry is ``TOKEN``, ``SYMBOL`` or ``EXCHANGE:SYMBOL``, optionally ``@START_PRICE``.
    Instruments outside the defaults come from the instrument master and need a start price.
    """
    defaults = {spec.instrument_token: spec for spec in default_instruments()}
    if not entries:
        return list(defaults.values())
    specs: list[SimInstrument] = []
    for entry in entries:
        name, price = _split_price(entry, variable)
        token = _resolve_token(name, master, variable)
        known = defaults.get(token)
        if known is not None:
            specs.append(known if price is None else _with_price(known, price, variable, entry))
            continue
        if price is None:
            raise FeedConfigError(
                f"{variable}: {entry!r} needs a start price, e.g. {name}@1000"
            )
        instrument = master.get(token)
        try:
            specs.append(SimInstrument(
                token, instrument.tradingsymbol if instrument else str(token), price,
                tick_size=instrument.tick_size if instrument and instrument.tick_size > 0 else 0.05,
                is_index=bool(instrument and instrument.is_index),
            ))
        except ValueError as exc:
            raise FeedConfigError(f"{variable}: {entry!r}: {exc}") from None
    if len({s.instrument_token for s in specs}) != len(specs):
        raise FeedConfigError(f"{variable}: an instrument is listed twice")
    return specs


def _with_price(spec: SimInstrument, price: float, variable: str, entry: str) -> SimInstrument:
    try:
        return SimInstrument(
            spec.instrument_token, spec.tradingsymbol, price, volatility=spec.volatility,
            drift=spec.drift, tick_size=spec.tick_size, typical_quantity=spec.typical_quantity,
            is_index=spec.is_index,
        )
    except ValueError as exc:
        raise FeedConfigError(f"{variable}: {entry!r}: {exc}") from None


def kite_tokens(
    entries: Sequence[str], master: InstrumentMaster, default: Iterable[int] = (),
    *, variable: str = "KITE__TOKENS",
) -> list[int]:
    """The tokens of ``KITE__TOKENS`` (tokens or ``EXCHANGE:SYMBOL``), else ``default``, in order."""
    tokens = [_resolve_token(entry, master, variable) for entry in entries] or list(default)
    tokens = list(dict.fromkeys(tokens))
    if not tokens:
        raise FeedConfigError(f"{variable}: no instruments (and no enabled strategy lists any)")
    return tokens


def _strategy_instruments(settings) -> list[int]:
    from alphapanda.strategies.config import load_strategies

    tokens: list[int] = []
    for config in load_strategies(settings.strategies_dir):
        if config.enabled:
            tokens.extend(config.instruments)
    return tokens


def _hours(settings, kind: str) -> MarketHours | None:
    """Market hours when they apply to ``kind``: on for kite, off otherwise, unless configured."""
    configured = settings.market_hours
    enforce = configured.enforce if configured.enforce is not None else kind == "kite"
    if not enforce:
        return None
    return MarketHours(frozenset(configured.holidays))


def _secret(value) -> str | None:
    return value.get_secret_value() if value is not None else None


def build_feed(spec: str, settings, *, start: datetime | None = None) -> MarketFeed:
    """The feed of ``MARKET_FEED`` (``simulated``, ``replay:PATH``, ``kite``), from the settings.

    Raises :class:`FeedConfigError` naming the variable when the settings cannot make the feed.
    """
    kind, _, arg = spec.partition(":")
    if kind == "simulated":
        sim = settings.simulation
        master = load_instrument_master(settings.zerodha.instruments_path)
        depth = sim.depth if sim.depth is not None else sim.ticks_per_second <= DEPTH_MAX_RATE
        market = SimulatedMarket(simulated_instruments(sim.instruments, master), seed=sim.seed, depth=depth)
        return SimulatedFeed(market, sim.ticks_per_second, start=start, hours=_hours(settings, kind))
    if kind == "replay":
        path = Path(arg)
        if not path.is_file():
            raise FeedConfigError(f"MARKET_FEED: replay tape {arg!r} does not exist")
        return ReplayFeed(path, speed=settings.replay.speed, max_wait=settings.replay.max_wait)
    if kind == "kite":
        zerodha = settings.zerodha
        api_key, access_token = _secret(zerodha.api_key), _secret(zerodha.access_token)
        missing = [name for name, value in
                   (("ZERODHA__API_KEY", api_key), ("ZERODHA__ACCESS_TOKEN", access_token)) if not value]
        if missing:
            raise FeedConfigError(f"{', '.join(missing)}: required by MARKET_FEED=kite")
        master = load_instrument_master(zerodha.instruments_path)
        options = settings.kite
        tokens = kite_tokens(options.tokens, master, default=(
            () if options.tokens else _strategy_instruments(settings)))
        return KiteFeed(
            api_key, access_token, tokens=tokens, mode=options.mode, root=zerodha.ticker_root,
            instruments=master, hours=_hours(settings, kind),
            order_updates_topic=(BrokerTopics("zerodha").venue_updates
                                 if "zerodha" in settings.active_brokers else None),
            ticker_options=dict(
                max_retries=options.max_retries, initial_backoff=options.initial_backoff,
                max_backoff=max(options.max_backoff, options.initial_backoff),
                heartbeat_timeout=options.heartbeat_timeout,
            ),
        )
    raise FeedConfigError(f"MARKET_FEED: {spec!r}: expected simulated, replay:PATH or kite")
