"""A simulated market: seeded geometric Brownian motion per instrument, ticks on event time.

Pure and deterministic: the same instruments, seed and sequence of event times give the same
ticks, so a simulated run can be reproduced exactly. The rate at which ticks are published is
the caller's business (see :meth:`SimulatedMarket.ticks` for an event-time schedule).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Literal

from alphapanda.market.hours import IST
from alphapanda.models import Depth, DepthLevel, MarketTick, Ohlc

__all__ = ["SimInstrument", "SimulatedMarket", "default_instruments"]

# Volatility and drift are annualised over trading time: 252 sessions of 6h15m.
TRADING_SECONDS_PER_YEAR = 252 * 6.25 * 3600
DEPTH_LEVELS = 5


@dataclass(frozen=True, slots=True)
class SimInstrument:
    """One simulated instrument.

    - ``start_price``: the first price, and the previous close of the first session.
    - ``volatility``, ``drift``: annualised GBM parameters (0.2 = 20 % a year).
    - ``tick_size``: prices are published rounded to it (NSE: 0.05).
    - ``typical_quantity``: mean traded quantity per tick (exponentially distributed).
    - ``is_index``: an index has no volume, quantities or depth (as in Kite index packets).
    """

    instrument_token: int
    tradingsymbol: str
    start_price: float
    volatility: float = 0.2
    drift: float = 0.0
    tick_size: float = 0.05
    typical_quantity: int = 50
    is_index: bool = False

    def __post_init__(self) -> None:
        if self.instrument_token <= 0:
            raise ValueError(f"{self.tradingsymbol}: instrument_token must be > 0")
        if not (math.isfinite(self.start_price) and self.start_price > 0):
            raise ValueError(f"{self.tradingsymbol}: start_price must be a finite number > 0")
        if not (math.isfinite(self.volatility) and self.volatility >= 0):
            raise ValueError(f"{self.tradingsymbol}: volatility must be >= 0")
        if not math.isfinite(self.drift):
            raise ValueError(f"{self.tradingsymbol}: drift must be finite")
        if not (self.tick_size > 0 and self.tick_size < self.start_price):
            raise ValueError(f"{self.tradingsymbol}: tick_size must be > 0 and below start_price")
        if self.typical_quantity < 1:
            raise ValueError(f"{self.tradingsymbol}: typical_quantity must be >= 1")


def default_instruments() -> list[SimInstrument]:
    """The instruments of the bundled example strategies, at plausible prices (Kite tokens)."""
    return [
        SimInstrument(256265, "NIFTY 50", 24000.0, volatility=0.14, is_index=True),
        SimInstrument(408065, "INFY", 1500.0, volatility=0.25, typical_quantity=40),
        SimInstrument(738561, "RELIANCE", 1300.0, volatility=0.22, typical_quantity=60),
        SimInstrument(2953217, "TCS", 3500.0, volatility=0.20, typical_quantity=20),
        SimInstrument(341249, "HDFCBANK", 1700.0, volatility=0.20, typical_quantity=50),
        SimInstrument(1270529, "ICICIBANK", 1300.0, volatility=0.22, typical_quantity=60),
    ]


class _Quote:
    """The mutable walk of one instrument: model price, session OHLC and volume."""

    __slots__ = (
        "spec", "price", "last_time", "session", "open", "high", "low", "prev_close",
        "last_published", "volume", "turnover", "decimals",
    )

    def __init__(self, spec: SimInstrument) -> None:
        self.spec = spec
        self.price = spec.start_price  # unrounded GBM state
        self.last_time: float | None = None
        self.session: date | None = None
        self.open = self.high = self.low = 0.0
        self.prev_close = spec.start_price
        self.last_published = spec.start_price
        self.volume = 0
        self.turnover = 0.0
        # Enough decimals to print any multiple of the tick size without float noise.
        self.decimals = max(2, -math.floor(math.log10(spec.tick_size)) + 1)

    def rounded(self, price: float) -> float:
        tick = self.spec.tick_size
        return round(max(tick, round(price / tick) * tick), self.decimals)


class SimulatedMarket:
    """Reproducible ticks for a set of instruments.

    Responsibilities:
    - move each instrument's price by GBM over the event time elapsed since its last tick;
    - keep the session (an IST calendar day): open/high/low, previous close, cumulative volume,
      volume-weighted average price;
    - optionally publish a 5-level order book around the last price;
    - pick the instrument of each tick round-robin (default) or at random (seeded).
    """

    def __init__(
        self,
        instruments: Sequence[SimInstrument],
        seed: int = 0,
        *,
        depth: bool = True,
        order: Literal["round_robin", "random"] = "round_robin",
    ) -> None:
        if not instruments:
            raise ValueError("a simulated market needs at least one instrument")
        tokens = [spec.instrument_token for spec in instruments]
        if len(set(tokens)) != len(tokens):
            raise ValueError("instrument tokens must be unique")
        if order not in ("round_robin", "random"):
            raise ValueError(f"order must be 'round_robin' or 'random', not {order!r}")
        self._quotes = [_Quote(spec) for spec in instruments]
        self._rng = random.Random(seed)
        self._depth = depth
        self._order = order
        self._next = 0

    @property
    def instruments(self) -> tuple[SimInstrument, ...]:
        return tuple(quote.spec for quote in self._quotes)

    def next_tick(self, event_time: datetime) -> MarketTick:
        """The next tick, stamped ``event_time`` (must be timezone-aware)."""
        if event_time.tzinfo is None or event_time.utcoffset() is None:
            raise ValueError("event_time must be timezone-aware")
        if self._order == "random":
            quote = self._quotes[self._rng.randrange(len(self._quotes))]
        else:
            quote = self._quotes[self._next]
            self._next = (self._next + 1) % len(self._quotes)
        return self._tick(quote, event_time)

    def ticks(self, start: datetime, rate_per_s: float) -> Iterator[MarketTick]:
        """Endless ticks with event times ``start``, ``start + 1/rate``, ``start + 2/rate`` ..."""
        if not (math.isfinite(rate_per_s) and rate_per_s > 0):
            raise ValueError("rate_per_s must be a finite number > 0")
        step = 1.0 / rate_per_s
        index = 0
        while True:
            # Multiplying (not summing steps) keeps long runs free of accumulated rounding.
            yield self.next_tick(start + timedelta(seconds=index * step))
            index += 1

    def _tick(self, quote: _Quote, event_time: datetime) -> MarketTick:
        spec = quote.spec
        rng = self._rng
        now = event_time.timestamp()
        shock = rng.gauss(0.0, 1.0)  # drawn on every tick, so the stream of draws is regular
        if quote.last_time is not None and now > quote.last_time:
            dt = (now - quote.last_time) / TRADING_SECONDS_PER_YEAR
            sigma = spec.volatility
            quote.price *= math.exp((spec.drift - 0.5 * sigma * sigma) * dt + sigma * math.sqrt(dt) * shock)
        if quote.last_time is None or now > quote.last_time:
            quote.last_time = now
        price = quote.rounded(quote.price)

        session = event_time.astimezone(IST).date()
        if session != quote.session:
            if quote.session is not None:
                quote.prev_close = quote.last_published
            quote.session = session
            quote.open = quote.high = quote.low = price
            quote.volume = 0
            quote.turnover = 0.0
        quote.high = max(quote.high, price)
        quote.low = min(quote.low, price)
        quote.last_published = price
        ohlc = Ohlc(open=quote.open, high=quote.high, low=quote.low, close=quote.prev_close)
        timestamp = event_time.astimezone(timezone.utc)

        if spec.is_index:
            return MarketTick(
                instrument_token=spec.instrument_token,
                last_price=price,
                timestamp=timestamp,
                ohlc=ohlc,
                tradingsymbol=spec.tradingsymbol,
            )

        last_quantity = 1 + int(rng.expovariate(1.0 / spec.typical_quantity))
        quote.volume += last_quantity
        quote.turnover += price * last_quantity
        return MarketTick(
            instrument_token=spec.instrument_token,
            last_price=price,
            timestamp=timestamp,
            volume=quote.volume,
            last_quantity=last_quantity,
            average_price=round(quote.turnover / quote.volume, 2),
            ohlc=ohlc,
            depth=self._book(quote, price) if self._depth else None,
            tradingsymbol=spec.tradingsymbol,
        )

    def _book(self, quote: _Quote, price: float) -> Depth:
        """Five bids below and five asks above the last price, one tick apart."""
        draw = self._rng.random  # random() is ~10x cheaper than randint() and as reproducible
        tick = quote.spec.tick_size
        size = quote.spec.typical_quantity * 10
        decimals = quote.decimals
        buy, sell = [], []
        for level in range(1, DEPTH_LEVELS + 1):
            buy.append(DepthLevel(
                price=max(0.0, round(price - level * tick, decimals)),
                quantity=1 + int(draw() * size),
                orders=1 + int(draw() * 20),
            ))
            sell.append(DepthLevel(
                price=round(price + level * tick, decimals),
                quantity=1 + int(draw() * size),
                orders=1 + int(draw() * 20),
            ))
        return Depth(buy=buy, sell=sell)
