"""Request rate limits of a venue: at most N requests in any window of W seconds.

Kite allows 10 order requests per second and about 400 per minute per account; over that it
answers HTTP 429. A token bucket of capacity N refilled at N/W admits up to 2N requests inside
one window (a full bucket plus a window's refill), so the limits here are *sliding windows*: the
times of the last N grants are kept, and a new grant waits until the oldest of them has left the
window. That is the strict reading of "N per W": no window of length W, wherever it starts, holds
more than N grants. It is still a bucket of N permits, each permit returning W seconds after use.

:class:`WindowLimit` is the pure arithmetic (time is an argument). :class:`RateLimiter` combines
several windows behind one ``await acquire()``; its clock and sleep are injectable so tests run in
fake time. Waiting is a single ``sleep`` until the next permit frees up, never a busy loop.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Awaitable, Callable, Iterable

__all__ = ["WindowLimit", "RateLimiter"]

Clock = Callable[[], float]
# Float sums such as ``t + (g + w - t)`` may land a hair before ``g + w``; a nanosecond of slack
# keeps a waiter from sleeping again for a delay the clock cannot even represent.
_EPSILON = 1e-9
Sleep = Callable[[float], Awaitable[None]]


class WindowLimit:
    """At most ``limit`` grants in any ``window`` seconds (half-open windows ``[t, t + window)``).

    Pure: every method takes the current time, nothing reads a clock.
    """

    def __init__(self, limit: int, window: float) -> None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        if window <= 0:
            raise ValueError(f"window must be > 0, got {window}")
        self.limit = limit
        self.window = float(window)
        self._grants: deque[float] = deque()

    def _forget_before(self, now: float) -> None:
        while self._grants and self._grants[0] + self.window <= now + _EPSILON:
            self._grants.popleft()

    def wait_time(self, now: float) -> float:
        """Seconds from ``now`` until a grant is allowed (0.0 when allowed now)."""
        self._forget_before(now)
        if len(self._grants) < self.limit:
            return 0.0
        return self._grants[0] + self.window - now

    def grant(self, now: float) -> None:
        """Record a grant at ``now``; raises if the window is full (call ``wait_time`` first)."""
        if self.wait_time(now) > 0:
            raise RuntimeError(f"rate limit {self.limit}/{self.window}s exceeded")
        self._grants.append(now)

    def in_window(self, now: float) -> int:
        """Grants made in the window that ends at ``now``."""
        self._forget_before(now)
        return len(self._grants)

    def __repr__(self) -> str:
        return f"WindowLimit({self.limit}/{self.window}s)"


class RateLimiter:
    """One permit per request, under every configured window at once.

    Waiters are served in arrival order (an ``asyncio.Lock`` queues them), so a burst of orders
    leaves in the order it came. Cancelling a waiter gives up its place without taking a permit.
    """

    def __init__(
        self,
        limits: Iterable[tuple[int, float]],
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._limits = [WindowLimit(limit, window) for limit, window in limits]
        if not self._limits:
            raise ValueError("at least one (limit, window) pair is required")
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()

    @property
    def limits(self) -> list[WindowLimit]:
        return list(self._limits)

    def wait_time(self) -> float:
        """Seconds until the next permit would be granted (0.0 when one is free now)."""
        now = self._clock()
        return max(limit.wait_time(now) for limit in self._limits)

    async def acquire(self) -> None:
        """Wait until every window has room, then take one permit from each."""
        async with self._lock:
            while True:
                now = self._clock()
                delay = max(limit.wait_time(now) for limit in self._limits)
                if delay <= 0:
                    for limit in self._limits:
                        limit.grant(now)
                    return
                await self._sleep(delay)
