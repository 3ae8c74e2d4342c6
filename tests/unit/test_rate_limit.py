"""Rate limits: at most N grants in any W-second window, awaited in fake time."""

from __future__ import annotations

import asyncio

import pytest

from alphapanda.execution.rate_limit import RateLimiter, WindowLimit


class FakeTime:
    """A clock that only moves when someone sleeps; records every sleep."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def max_in_any_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max(sum(1 for t in times if start <= t < start + window) for start in times)


def test_a_window_grants_up_to_its_limit_at_once():
    limit = WindowLimit(3, 1.0)
    for _ in range(3):
        assert limit.wait_time(0.0) == 0.0
        limit.grant(0.0)
    assert limit.wait_time(0.0) == pytest.approx(1.0)


def test_a_full_window_frees_a_permit_when_the_oldest_grant_leaves_it():
    limit = WindowLimit(2, 1.0)
    limit.grant(0.0)
    limit.grant(0.4)
    assert limit.wait_time(0.5) == pytest.approx(0.5)
    assert limit.wait_time(1.0) == 0.0
    limit.grant(1.0)
    assert limit.wait_time(1.0) == pytest.approx(0.4)


def test_granting_into_a_full_window_is_refused():
    limit = WindowLimit(1, 1.0)
    limit.grant(0.0)
    with pytest.raises(RuntimeError):
        limit.grant(0.5)


def test_in_window_counts_only_recent_grants():
    limit = WindowLimit(5, 1.0)
    for t in (0.0, 0.2, 0.9):
        limit.grant(t)
    assert limit.in_window(1.1) == 2


@pytest.mark.parametrize("limit, window", [(0, 1.0), (1, 0.0), (1, -1.0)])
def test_a_window_needs_a_positive_limit_and_length(limit, window):
    with pytest.raises(ValueError):
        WindowLimit(limit, window)


async def test_25_requests_at_10_per_second_take_two_seconds_and_never_exceed_10_per_window():
    fake = FakeTime()
    limiter = RateLimiter([(10, 1.0)], clock=fake.clock, sleep=fake.sleep)
    granted: list[float] = []

    async def request() -> None:
        await limiter.acquire()
        granted.append(fake.now)

    await asyncio.gather(*(request() for _ in range(25)))

    assert len(granted) == 25
    assert max(granted) == pytest.approx(2.0)
    assert max_in_any_window(granted, 1.0) == 10


async def test_the_per_minute_limit_holds_even_when_the_per_second_limit_has_room():
    fake = FakeTime()
    limiter = RateLimiter([(10, 1.0), (12, 60.0)], clock=fake.clock, sleep=fake.sleep)
    granted: list[float] = []
    for _ in range(13):
        await limiter.acquire()
        granted.append(fake.now)

    assert granted[:10] == [0.0] * 10
    assert granted[10:12] == [pytest.approx(1.0)] * 2
    assert granted[12] == pytest.approx(60.0)


async def test_waiting_is_one_sleep_per_freed_permit_not_a_busy_loop():
    fake = FakeTime()
    limiter = RateLimiter([(2, 1.0)], clock=fake.clock, sleep=fake.sleep)
    for _ in range(6):
        await limiter.acquire()
    # grants at 0, 0, 1, 1, 2, 2: two waits of one second each
    assert fake.sleeps == [pytest.approx(1.0), pytest.approx(1.0)]


async def test_waiters_are_served_in_arrival_order():
    fake = FakeTime()
    limiter = RateLimiter([(1, 1.0)], clock=fake.clock, sleep=fake.sleep)
    order: list[int] = []

    async def request(i: int) -> None:
        await limiter.acquire()
        order.append(i)

    await asyncio.gather(*(request(i) for i in range(5)))
    assert order == [0, 1, 2, 3, 4]


async def test_a_cancelled_waiter_takes_no_permit():
    fake = FakeTime()
    gate = asyncio.Event()

    async def blocking_sleep(seconds: float) -> None:
        await gate.wait()

    limiter = RateLimiter([(1, 1.0)], clock=fake.clock, sleep=blocking_sleep)
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter

    fake.now = 1.0
    assert limiter.wait_time() == 0.0
