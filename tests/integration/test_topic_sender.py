"""The pipeline's events go out through a producer of their own, not the app's (changelogs')."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import KafkaConnectionError
from mode import Signal

from alphapanda.kafka_io import TopicSender


class _Producer:
    def __init__(self) -> None:
        self.sent = []


class _App:
    on_rebalance_complete = Signal()

    def __init__(self, fail_first: BaseException | None = None) -> None:
        self.on_rebalance_complete = _App.on_rebalance_complete.with_default_sender(self)
        self.started: list[_Producer] = []
        self.discarded: list[_Producer] = []
        self.fail_first = fail_first
        self.transport = self
        self.beacon = None
        self.producer = "the app's producer"

    def create_producer(self, beacon=None) -> _Producer:
        return _Producer()

    async def add_runtime_dependency(self, producer) -> None:
        await asyncio.sleep(0.01)
        if self.fail_first is not None:
            failure, self.fail_first = self.fail_first, None
            raise failure
        self.started.append(producer)

    async def remove_dependency(self, producer) -> None:
        self.discarded.append(producer)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(TopicSender, "RETRY_SECONDS", 0.01)


async def test_one_producer_of_its_own_started_once_for_every_caller():
    app = _App()
    sender = TopicSender(app)
    first, second = await asyncio.gather(sender.producer(), sender.producer())
    assert first is second and app.started == [first] and first is not app.producer
    assert await sender.producer() is first


async def test_it_is_started_when_recovery_completes_before_any_send():
    app = _App()
    sender = TopicSender(app)
    await app.on_rebalance_complete.send()
    await asyncio.sleep(0.1)
    assert len(app.started) == 1 and await sender.producer() is app.started[0]


@pytest.mark.parametrize("failure", [ConnectionError("refused"), KafkaConnectionError("Unable to bootstrap")])
async def test_a_start_that_cannot_reach_the_broker_is_tried_again_until_it_can(failure):
    app = _App(fail_first=failure)
    sender = TopicSender(app)
    producer = await sender.producer()  # waits through the failed try, as a send would
    assert app.started == [producer] and len(app.discarded) == 1 and app.discarded[0] is not producer


async def test_a_broker_away_when_recovery_completes_does_not_fail_the_recovery():
    """The worker's recovery signals the start; the broker killed just then must not crash it."""
    app = _App(fail_first=KafkaConnectionError("Unable to bootstrap"))
    sender = TopicSender(app)
    await app.on_rebalance_complete.send()  # returns at once, raises nothing
    assert await sender.producer() is app.started[0]


async def test_any_other_failure_reaches_the_sender_and_the_next_send_tries_again():
    app = _App(fail_first=ValueError("bad settings"))
    sender = TopicSender(app)
    with pytest.raises(ValueError):
        await sender.producer()
    assert await sender.producer() is app.started[0] and len(app.discarded) == 1
