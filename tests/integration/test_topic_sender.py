"""The pipeline's events go out through a producer of their own, not the app's (changelogs')."""

from __future__ import annotations

import asyncio

import pytest
from mode import Signal

from alphapanda.kafka_io import TopicSender


class _Producer:
    def __init__(self) -> None:
        self.sent = []


class _App:
    on_rebalance_complete = Signal()

    def __init__(self, fail_first: bool = False) -> None:
        self.on_rebalance_complete = _App.on_rebalance_complete.with_default_sender(self)
        self.started: list[_Producer] = []
        self.fail_first = fail_first
        self.transport = self
        self.beacon = None
        self.producer = "the app's producer"

    def create_producer(self, beacon=None) -> _Producer:
        return _Producer()

    async def add_runtime_dependency(self, producer) -> None:
        await asyncio.sleep(0.01)
        if self.fail_first:
            self.fail_first = False
            raise ConnectionError("broker not there yet")
        self.started.append(producer)


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
    assert len(app.started) == 1 and await sender.producer() is app.started[0]


async def test_a_failed_start_is_tried_again_by_the_next_send():
    app = _App(fail_first=True)
    sender = TopicSender(app)
    with pytest.raises(ConnectionError):
        await sender.producer()
    assert await sender.producer() is app.started[0]
