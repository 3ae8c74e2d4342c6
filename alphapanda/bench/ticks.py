"""Benchmark ticks: a deterministic price path whose signalling ticks are known in advance.

Prices wander by less than the signalling strategy's threshold, so ordinary ticks never signal.
Every ``signal_every``-th tick is a *jump* of one instrument's price by ``JUMP`` (up or down,
alternating per instrument); that instrument's next tick returns to the base price. With the
bench's signalling strategy (momentum, lookback 1, threshold below the jump) both the jump and the
return each cause exactly one signal, in opposite directions, so positions stay bounded and every
fill can be traced to the tick that caused it (the fill's correlation id is the tick's id).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from alphapanda.market.publisher import tick_envelope
from alphapanda.models import MarketTick, Ohlc
from alphapanda.models.wire import encode_event

__all__ = ["BenchTick", "TickSource", "JUMP", "NOISE", "instrument_tokens"]

#: Relative size of a signalling jump.
JUMP = 0.01
#: Largest relative wander of an ordinary tick around the base price (consecutive ticks of an
#: instrument differ by at most 2 x NOISE, well below the signalling threshold).
NOISE = 0.0005

_SOURCE = "bench"
_STEP = timedelta(microseconds=1)


def instrument_tokens(count: int, first: int = 5_000_001) -> list[int]:
    """``count`` distinct synthetic instrument tokens."""
    return list(range(first, first + count))


@dataclass(frozen=True, slots=True)
class BenchTick:
    """One encoded tick ready to publish; ``signals`` says whether it should cause a signal."""

    id: str
    key: bytes
    value: bytes
    signals: bool


class TickSource:
    """Ticks over ``tokens`` in a seeded random order; exchange timestamps strictly increase.

    ``signal_every``: every n-th tick (counted over all instruments) is a jump; 0 means never.
    Ticks are stamped with ``now`` (wall clock) when given, else with a synthetic clock that
    advances one microsecond per tick from the source's creation.
    """

    def __init__(self, tokens: list[int], *, signal_every: int, seed: int = 7) -> None:
        if not tokens:
            raise ValueError("at least one instrument")
        self.tokens = tokens
        self.signal_every = signal_every
        self._random = random.Random(seed)
        self._base = {token: 100.0 + (token % 1000) for token in tokens}
        self._jumped: dict[int, bool] = {}
        self._direction = {token: 1 for token in tokens}
        self._count = 0
        self._clock = datetime.now(timezone.utc)
        self.signalling = 0

    def _timestamp(self, now: datetime | None) -> datetime:
        stamp = self._clock + _STEP
        if now is not None and now > stamp:
            stamp = now
        self._clock = stamp
        return stamp

    def next(self, now: datetime | None = None) -> BenchTick:
        # A random order (not round-robin), so jumps do not keep landing on one instrument.
        token = self.tokens[self._random.randrange(len(self.tokens))]
        self._count += 1
        base = self._base[token]
        if self._jumped.pop(token, False):
            price, signals = base, True  # the return from a jump
        elif self.signal_every and self._count % self.signal_every == 0:
            direction = self._direction[token]
            self._direction[token] = -direction
            self._jumped[token] = True
            price, signals = base * (1 + direction * JUMP), True
        else:
            price, signals = base * (1 + self._random.uniform(-NOISE, NOISE)), False
        price = round(price, 4)
        stamp = self._timestamp(now)
        tick = MarketTick(
            instrument_token=token, last_price=price, timestamp=stamp, volume=self._count,
            last_quantity=1, average_price=base,
            ohlc=Ohlc(open=base, high=round(base * 1.02, 4), low=round(base * 0.98, 4), close=base),
            tradingsymbol=f"BENCH{token % 100000}",
        )
        event = tick_envelope(tick, source=_SOURCE)
        self.signalling += signals
        return BenchTick(event.id, str(token).encode(), encode_event(event), signals)

    def batch(self, count: int, now: datetime | None = None) -> list[BenchTick]:
        return [self.next(now) for _ in range(count)]
