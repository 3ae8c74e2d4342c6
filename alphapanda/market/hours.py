"""NSE trading hours: when the cash market is open, in India Standard Time."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

__all__ = ["IST", "MarketHours"]

# India has had no daylight saving time since 1945: a fixed offset is exact and needs no tzdata.
IST = timezone(timedelta(hours=5, minutes=30), "IST")

# Bound on the search for the next session: two years of holidays is a configuration error.
_MAX_DAYS_AHEAD = 730


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("a timezone-aware datetime is required (naive times are ambiguous)")
    return at


@dataclass(frozen=True, slots=True)
class MarketHours:
    """The continuous trading session: ``open``..``close`` IST, Monday to Friday, except holidays.

    - ``open`` (default 09:15) is inside the session, ``close`` (default 15:30) is not.
    - ``holidays``: exchange holidays (IST calendar dates) on which a weekday has no session.
    Inputs may be in any time zone (UTC ticks included); answers are in IST.
    """

    holidays: frozenset[date] = field(default_factory=frozenset)
    open: time = time(9, 15)
    close: time = time(15, 30)

    def __post_init__(self) -> None:
        if not self.open < self.close:
            raise ValueError("the session must open before it closes")
        object.__setattr__(self, "holidays", frozenset(self.holidays))

    @classmethod
    def with_holidays(cls, holidays: Iterable[date | str]) -> "MarketHours":
        """Hours with holidays given as dates or ISO strings (``2026-01-26``)."""
        return cls(frozenset(d if isinstance(d, date) else date.fromisoformat(d) for d in holidays))

    def is_trading_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` falls inside a session."""
        local = _aware(at).astimezone(IST)
        return self.is_trading_day(local.date()) and self.open <= local.time() < self.close

    def next_open(self, after: datetime) -> datetime:
        """The start of the first session that opens at or after ``after`` (IST).

        While a session is running, that is the next day's session.
        """
        local = _aware(after).astimezone(IST)
        day = local.date()
        if local.time() > self.open:
            day += timedelta(days=1)
        for _ in range(_MAX_DAYS_AHEAD):
            if self.is_trading_day(day):
                return datetime.combine(day, self.open, tzinfo=IST)
            day += timedelta(days=1)
        raise ValueError(f"no trading day within {_MAX_DAYS_AHEAD} days after {local.date()}")

    def session_close(self, at: datetime) -> datetime | None:
        """When the session running at ``at`` closes, or None if the market is closed then."""
        if not self.is_open(at):
            return None
        return datetime.combine(at.astimezone(IST).date(), self.close, tzinfo=IST)
