"""Bounded retries with exponential backoff for transient failures."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a transient failure is retried before the DLQ.

    attempts: total tries including the first (default 4).
    base_delay: seconds before the first retry, doubled each time (default 0.05).
    max_delay: cap on one delay (default 2.0).
    """

    attempts: int = 4
    base_delay: float = 0.05
    max_delay: float = 2.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
