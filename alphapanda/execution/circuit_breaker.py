"""A circuit breaker for a live venue: after a run of failures, fail at once for a cool-down.

When Kite times out or answers 5xx, every order waits for its timeout and retries; behind them
signals pile up and go stale, and would all be placed late once Kite is back. After
``threshold`` consecutive failed attempts the breaker opens: orders fail immediately (a stable
reason code) for ``cooldown`` seconds. Then one order may try (half-open): a success closes the
breaker, a failure opens it for another cool-down. Pure: the caller passes the clock.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CircuitBreaker"]


@dataclass
class CircuitBreaker:
    threshold: int = 5
    cooldown: float = 30.0
    failures: int = 0
    opened_at: float | None = None
    times_opened: int = 0

    def __post_init__(self) -> None:
        if self.threshold < 1 or self.cooldown <= 0:
            raise ValueError("a circuit breaker needs threshold >= 1 and cooldown > 0")

    def state(self, now: float) -> str:
        if self.opened_at is None:
            return "closed"
        return "open" if now < self.opened_at + self.cooldown else "half_open"

    def allows(self, now: float) -> bool:
        """May a request go out now? (Closed, or half-open after the cool-down.)"""
        return self.state(now) != "open"

    def retry_in(self, now: float) -> float:
        """Seconds until the next try is allowed (0 when it is allowed now)."""
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.opened_at + self.cooldown - now)

    def succeeded(self) -> None:
        self.failures = 0
        self.opened_at = None

    def failed(self, now: float) -> bool:
        """Count a failed attempt; True when this failure opened the breaker."""
        self.failures += 1
        half_open = self.state(now) == "half_open"
        if half_open or (self.opened_at is None and self.failures >= self.threshold):
            self.opened_at = now
            self.times_opened += 1
            return True
        return False

    def as_dict(self, now: float) -> dict:
        return {
            "state": self.state(now),
            "consecutive_failures": self.failures,
            "threshold": self.threshold,
            "cooldown_seconds": self.cooldown,
            "retry_in_seconds": round(self.retry_in(now), 1),
            "times_opened": self.times_opened,
        }
