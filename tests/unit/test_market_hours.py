"""NSE market hours: 09:15-15:30 IST on weekdays that are not holidays."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from alphapanda.market.hours import IST, MarketHours

HOURS = MarketHours()
# 2026-11-23 is a Monday.
MONDAY = date(2026, 11, 23)


def ist(day: date, hour: int, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, micro, tzinfo=IST)


def test_open_during_the_session_on_a_weekday():
    assert HOURS.is_open(ist(MONDAY, 11, 0))


def test_the_opening_minute_is_inside_the_session():
    assert HOURS.is_open(ist(MONDAY, 9, 15))
    assert not HOURS.is_open(ist(MONDAY, 9, 14, 59, 999_999))


def test_the_closing_time_is_outside_the_session():
    assert HOURS.is_open(ist(MONDAY, 15, 29, 59, 999_999))
    assert not HOURS.is_open(ist(MONDAY, 15, 30))


@pytest.mark.parametrize("offset_days", [5, 6])  # Saturday, Sunday
def test_closed_on_weekends(offset_days):
    assert not HOURS.is_open(ist(MONDAY + timedelta(days=offset_days), 11, 0))


def test_closed_on_a_configured_holiday():
    hours = MarketHours.with_holidays(["2026-11-24"])
    assert not hours.is_open(ist(date(2026, 11, 24), 11, 0))
    assert hours.is_open(ist(date(2026, 11, 25), 11, 0))


def test_utc_inputs_are_read_in_ist():
    # 03:45 UTC is 09:15 IST; 10:00 UTC is 15:30 IST.
    assert HOURS.is_open(datetime(2026, 11, 23, 3, 45, tzinfo=timezone.utc))
    assert not HOURS.is_open(datetime(2026, 11, 23, 3, 44, 59, tzinfo=timezone.utc))
    assert not HOURS.is_open(datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc))


def test_the_ist_date_decides_the_weekday_not_the_utc_date():
    # Sunday 22:00 UTC is Monday 03:30 IST: a weekday, but before the open.
    sunday_night_utc = datetime(2026, 11, 22, 22, 0, tzinfo=timezone.utc)
    assert not HOURS.is_open(sunday_night_utc)
    assert HOURS.next_open(sunday_night_utc) == ist(MONDAY, 9, 15)


def test_next_open_before_the_open_is_the_same_day():
    assert HOURS.next_open(ist(MONDAY, 8, 0)) == ist(MONDAY, 9, 15)


def test_next_open_at_the_open_is_that_open():
    assert HOURS.next_open(ist(MONDAY, 9, 15)) == ist(MONDAY, 9, 15)


def test_next_open_during_a_session_is_the_next_day():
    assert HOURS.next_open(ist(MONDAY, 12, 0)) == ist(MONDAY + timedelta(days=1), 9, 15)


def test_next_open_on_friday_evening_is_monday():
    friday = MONDAY + timedelta(days=4)
    assert HOURS.next_open(ist(friday, 16, 0)) == ist(MONDAY + timedelta(days=7), 9, 15)


def test_next_open_skips_holidays():
    hours = MarketHours.with_holidays([date(2026, 11, 24), date(2026, 11, 25)])
    assert hours.next_open(ist(MONDAY, 16, 0)) == ist(date(2026, 11, 26), 9, 15)


def test_next_open_from_utc_is_the_same_instant():
    after = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)  # 17:30 IST Monday
    assert HOURS.next_open(after) == datetime(2026, 11, 24, 3, 45, tzinfo=timezone.utc)


def test_session_close_of_a_running_session():
    assert HOURS.session_close(ist(MONDAY, 10, 0)) == ist(MONDAY, 15, 30)
    assert HOURS.session_close(ist(MONDAY, 16, 0)) is None


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        HOURS.is_open(datetime(2026, 11, 23, 11, 0))


def test_a_session_must_open_before_it_closes():
    from datetime import time

    with pytest.raises(ValueError):
        MarketHours(open=time(15, 30), close=time(9, 15))


def test_a_calendar_without_trading_days_fails_loudly():
    every_day = [date(2026, 1, 1) + timedelta(days=i) for i in range(800)]
    with pytest.raises(ValueError, match="no trading day"):
        MarketHours.with_holidays(every_day).next_open(ist(date(2026, 1, 1), 8, 0))
