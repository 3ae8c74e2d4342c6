"""Market feeds behind one interface: simulated, replayed tape, Zerodha KiteTicker.

A feed publishes validated ``market_tick`` envelopes through a :class:`TickPublisher` and keeps
its :class:`FeedState` current (running, stopped, failed) for health.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Protocol

from alphapanda.market.publisher import TickPublisher, tick_envelope

__all__ = ["FeedState", "MarketFeed", "SimulatedFeed", "build_feed"]


@dataclass
class FeedState:
    kind: str
    running: bool = False
    started_at: datetime | None = None
    stopped_reason: str | None = None
    error: str | None = None
    published: int = 0
    last_tick_at: datetime | None = None

    def mark_running(self, at: datetime) -> None:
        self.running, self.started_at, self.stopped_reason, self.error = True, at, None, None

    def mark_stopped(self, reason: str) -> None:
        self.running, self.stopped_reason = False, reason

    def mark_failed(self, error: str) -> None:
        self.running, self.error, self.stopped_reason = False, error, "failed"

    def as_dict(self) -> dict:
        return {
            "kind": self.kind, "running": self.running,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "stopped_reason": self.stopped_reason, "error": self.error,
            "published": self.published,
            "last_tick_at": self.last_tick_at.isoformat() if self.last_tick_at else None,
        }


class MarketFeed(Protocol):
    async def run(self, publisher: TickPublisher, state: FeedState) -> None: ...
    async def stop(self) -> None: ...


@dataclass
class SimulatedFeed:
    """Seeded geometric-Brownian ticks at a steady rate, stamped with the wall clock."""

    rate: float = 20.0
    seed: int = 7
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, publisher: TickPublisher, state: FeedState) -> None:
        from alphapanda.market.simulated import SimulatedMarket, default_instruments

        market = SimulatedMarket(default_instruments(), seed=self.seed)
        loop = asyncio.get_running_loop()
        period = 1.0 / self.rate
        batch = max(1, int(self.rate // 50))  # at most ~50 sends per second
        next_at = loop.time()
        while not self._stopping.is_set():
            now = datetime.now(timezone.utc)
            events = [
                tick_envelope(market.next_tick(now + timedelta(microseconds=i)), source="simulated_feed")
                for i in range(batch)
            ]
            await publisher.publish(events)
            state.published += len(events)
            state.last_tick_at = now
            next_at += period * batch
            delay = next_at - loop.time()
            if delay > 0:
                try:
                    await asyncio.wait_for(self._stopping.wait(), delay)
                except asyncio.TimeoutError:
                    pass
            else:
                next_at = loop.time()

    async def stop(self) -> None:
        self._stopping.set()


def build_feed(spec: str, settings) -> MarketFeed:
    kind, _, arg = spec.partition(":")
    if kind == "simulated":
        return SimulatedFeed()
    raise ValueError(f"market feed {spec!r} is not available yet")
