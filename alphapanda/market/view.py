"""The latest tick per instrument, as seen by this worker (no Faust, no I/O)."""

from __future__ import annotations

from datetime import datetime

from alphapanda.models import MarketTick

__all__ = ["MarketView"]


class MarketView:
    """Latest tick per instrument token; older ticks never replace newer ones (event time)."""

    def __init__(self) -> None:
        self._ticks: dict[int, MarketTick] = {}
        self.updated_at: datetime | None = None
        self.updates = 0

    def update(self, tick: MarketTick) -> bool:
        current = self._ticks.get(tick.instrument_token)
        if current is not None and tick.timestamp < current.timestamp:
            return False
        self._ticks[tick.instrument_token] = tick
        self.updated_at = tick.timestamp
        self.updates += 1
        return True

    def last_tick(self, token: int) -> MarketTick | None:
        return self._ticks.get(token)

    def last_price(self, token: int) -> float | None:
        tick = self._ticks.get(token)
        return tick.last_price if tick is not None else None

    def prices(self) -> dict[int, float]:
        return {token: tick.last_price for token, tick in self._ticks.items()}

    def __len__(self) -> int:
        return len(self._ticks)
