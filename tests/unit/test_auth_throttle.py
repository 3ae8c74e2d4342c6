"""Failed authentications slow one client down, and only that client."""

from __future__ import annotations

from alphapanda.auth_throttle import AuthThrottle


def test_the_sixth_try_within_a_minute_waits_until_the_first_failure_is_a_minute_old():
    throttle = AuthThrottle(limit=5, window=60)
    for second in range(5):
        assert throttle.retry_after("a", second) is None
        throttle.failed("a", second)
    assert throttle.retry_after("a", 10) == 50  # the failure at 0 s leaves the window at 60 s
    assert throttle.retry_after("b", 10) is None  # another client is not slowed down
    assert throttle.retry_after("a", 60.5) is None  # one failure has left the window


def test_a_success_clears_the_record_and_memory_stays_bounded():
    throttle = AuthThrottle(limit=2, window=60, max_clients=3)
    throttle.failed("a", 0)
    throttle.failed("a", 1)
    assert throttle.retry_after("a", 2) == 58
    throttle.succeeded("a")
    assert throttle.retry_after("a", 2) is None
    for client in "bcdef":
        throttle.failed(client, 3)
        throttle.failed(client, 3)
    assert throttle.retry_after("b", 4) is None and throttle.retry_after("f", 4) == 59
