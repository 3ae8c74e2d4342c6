"""Slowing down guessing: failed authentications per client within a window (pure, no I/O).

After ``limit`` failures of one client within ``window`` seconds, that client is answered 429
until the oldest of them leaves the window; a success clears its record. Memory stays bounded:
at most ``max_clients`` clients are tracked, the least recently failing forgotten first.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque

__all__ = ["AuthThrottle"]


class AuthThrottle:
    def __init__(self, limit: int = 5, window: float = 60.0, max_clients: int = 10_000) -> None:
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, client: str, now: float) -> deque[float]:
        failures = self._failures.get(client)
        if failures is None:
            return deque()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[client]
        return failures

    def retry_after(self, client: str, now: float) -> int | None:
        """Seconds the client must wait before its next try (None: it may try now)."""
        failures = self._recent(client, now)
        if len(failures) < self.limit:
            return None
        return max(1, math.ceil(failures[0] + self.window - now))

    def failed(self, client: str, now: float) -> None:
        failures = self._recent(client, now)
        failures.append(now)
        self._failures[client] = failures
        self._failures.move_to_end(client)
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)
