"""The live venue's circuit breaker: open after a run of failures, one try after the cool-down."""

from __future__ import annotations

import pytest

from alphapanda.execution.circuit_breaker import CircuitBreaker


def test_it_opens_after_the_threshold_and_lets_one_try_through_after_the_cooldown():
    breaker = CircuitBreaker(threshold=3, cooldown=30)
    assert [breaker.failed(t) for t in (0, 1, 2)] == [False, False, True]
    assert breaker.state(2) == "open" and not breaker.allows(10) and breaker.retry_in(10) == 22
    assert breaker.as_dict(10)["consecutive_failures"] == 3
    assert breaker.allows(32) and breaker.state(32) == "half_open"
    assert breaker.failed(33) is True  # the trial failed: open again, for a full cool-down
    assert not breaker.allows(60) and breaker.allows(63) and breaker.times_opened == 2
    breaker.succeeded()
    assert breaker.state(63) == "closed" and breaker.failures == 0


def test_a_success_in_between_resets_the_run():
    breaker = CircuitBreaker(threshold=2, cooldown=5)
    breaker.failed(0)
    breaker.succeeded()
    assert breaker.failed(1) is False and breaker.allows(1)


def test_nonsense_settings_are_refused():
    with pytest.raises(ValueError):
        CircuitBreaker(threshold=0)
