"""The simulated feed: a seeded market on an event-time schedule."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from datetime import datetime, timezone

from alphapanda.market.feeds.base import FeedState, Stoppable, TickSink
from alphapanda.market.hours import MarketHours
from alphapanda.market.publisher import tick_envelope
from alphapanda.market.simulated import SimulatedMarket

__all__ = ["SimulatedFeed", "DEPTH_MAX_RATE"]

#: The simulated feed publishes order books up to this rate (ticks/s) unless told otherwise:
#: a book triples the cost of a tick (about 95 against 20 microseconds here).
DEPTH_MAX_RATE = 500.0


class SimulatedFeed(Stoppable):
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
