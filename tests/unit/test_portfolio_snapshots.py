"""Periodic PnL snapshots follow event-time intervals, identical for every replay of a tape."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from alphapanda.portfolio import SnapshotSchedule, interval_start, snapshot_id

MINUTE = timedelta(minutes=1)
T0 = datetime(2026, 11, 21, 9, 15, 0, tzinfo=UTC)


def test_intervals_are_cut_from_the_epoch_not_from_the_first_event():
    assert interval_start(T0 + timedelta(seconds=59.9), MINUTE) == T0
    assert interval_start(T0 + timedelta(seconds=60), MINUTE) == T0 + MINUTE
    assert interval_start(T0 + timedelta(seconds=7), timedelta(seconds=5)) == T0 + timedelta(seconds=5)


def test_interval_starts_are_utc_whatever_the_input_zone():
    ist = timezone(timedelta(hours=5, minutes=30))
    start = interval_start(datetime(2026, 11, 21, 14, 45, 30, tzinfo=ist), MINUTE)
    assert start == T0 and start.tzinfo == UTC


def test_naive_times_and_empty_intervals_are_refused():
    with pytest.raises(ValueError):
        interval_start(datetime(2026, 11, 21), MINUTE)
    with pytest.raises(ValueError):
        SnapshotSchedule(timedelta(0))


def test_the_first_clock_reading_is_due_at_once():
    assert SnapshotSchedule(MINUTE).due("paper", T0 + timedelta(seconds=30)) == T0


def test_an_interval_is_due_until_it_is_published_and_then_not_again():
    schedule = SnapshotSchedule(MINUTE)
    assert schedule.due("paper", T0) == T0
    assert schedule.due("paper", T0) == T0  # not sent yet: still due
    schedule.published("paper", T0)
    assert schedule.due("paper", T0 + timedelta(seconds=59)) is None
    assert schedule.due("paper", T0 + MINUTE) == T0 + MINUTE


def test_a_jump_over_several_intervals_publishes_only_the_latest():
    schedule = SnapshotSchedule(MINUTE)
    schedule.published("paper", T0)
    assert schedule.due("paper", T0 + 10 * MINUTE + timedelta(seconds=5)) == T0 + 10 * MINUTE


def test_a_clock_going_back_in_time_publishes_nothing():
    schedule = SnapshotSchedule(MINUTE)
    schedule.published("paper", T0 + MINUTE)
    assert schedule.due("paper", T0) is None
    schedule.published("paper", T0)  # an older acknowledgement does not move it back
    assert schedule.due("paper", T0 + MINUTE) is None


def test_accounts_are_scheduled_independently():
    schedule = SnapshotSchedule(MINUTE)
    schedule.published("paper", T0)
    assert schedule.due("zerodha", T0) == T0


def test_snapshot_ids_depend_only_on_account_and_interval():
    assert snapshot_id("paper", T0) == snapshot_id("paper", T0.astimezone(timezone(timedelta(hours=5))))
    assert snapshot_id("paper", T0) != snapshot_id("paper", T0 + MINUTE)
    assert snapshot_id("paper", T0) != snapshot_id("zerodha", T0)
