"""Agent tests: the real Faust app and agents, in-memory tables, no broker (Faust's test context).

Messages are delivered on a chosen topic (agents route by topic prefix), and whatever an agent
sends is recorded instead of produced.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
from time import time

import pytest

os.environ.update(
    STORE_URL="memory://",
    ACTIVE_BROKERS="paper,zerodha",
    KAFKA_URL="kafka://127.0.0.1:1",  # nothing listens: never a real broker here
    DATA_DIR=tempfile.mkdtemp(prefix="alphapanda-agent-tests-"),
    MARKET_FEED="none",
    RISK__ZERODHA__MAX_ORDER_QUANTITY="400",  # seeded limits: see test_risk_manager
)

from faust.types import Message  # noqa: E402

from alphapanda.app import app  # noqa: E402
from alphapanda.kafka_io import TopicSender  # noqa: E402


class Sent:
    """Everything the agents sent, by topic, as decoded JSON."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes | None, dict]] = []

    def to(self, topic: str) -> list[dict]:
        return [value for t, _, value in self.messages if t == topic]

    def clear(self) -> None:
        self.messages.clear()


@pytest.fixture(scope="session", autouse=True)
def faust_app():
    app.finalize()
    app.conf.store = "memory://"
    app.flow_control.resume()
    return app


@pytest.fixture
def sent(monkeypatch) -> Sent:
    record = Sent()

    async def capture(self, topic, key, value, headers=None):
        record.messages.append((topic, key, json.loads(value)))

    async def enqueue(self, topic, key, value, headers=None):
        await capture(self, topic, key, value, headers)
        acked = asyncio.get_running_loop().create_future()
        acked.set_result(None)
        return acked

    monkeypatch.setattr(TopicSender, "__call__", capture)
    monkeypatch.setattr(TopicSender, "enqueue", enqueue)
    return record


@pytest.fixture(autouse=True)
def empty_tables():
    from alphapanda.agents.portfolio import held_accounts

    for table in app.tables.values():
        table.data.clear()
    held_accounts.clear()  # what the worker held of the tables goes with them
    yield


class Delivery:
    """Delivers raw bytes to an agent under test as if read from ``topic``."""

    def __init__(self, wrapper) -> None:
        self.wrapper = wrapper
        self.offset = 0

    async def __call__(self, topic: str, value: bytes, key: bytes | None = b"paper", partition: int = 0) -> None:
        message = Message(
            topic=topic, partition=partition, offset=self.offset, timestamp=time(), timestamp_type=0,
            headers=None, key=key, value=value, checksum=b"", serialized_key_size=0, serialized_value_size=0,
            generation_id=app.consumer_generation_id,  # streams drop messages of an older generation
        )
        self.offset += 1
        channel = self.wrapper.stream().channel
        event = await channel.decode(message)
        await channel.put(event)
        async with self.wrapper.new_value_processed:
            await self.wrapper.new_value_processed.wait()
        if self.wrapper._crash_reason:
            raise self.wrapper._crash_reason


class LaneDelivery(Delivery):
    """Delivers a message to an execution lane's agent and returns once the lane has handled it.

    The message is stamped with the consumer's generation (the stream skips messages of another
    generation as stale), and completion is observed on the lane itself: the test wrapper wakes
    its waiters when the agent *receives* a value, before the handler has run.
    """

    def __init__(self, wrapper, lane) -> None:
        super().__init__(wrapper)
        self.lane = lane
        self.done = asyncio.Queue()
        process = lane.process

        async def observed(message):
            try:
                return await process(message)
            finally:
                self.done.put_nowait(message.offset)

        lane.process = observed  # type: ignore[method-assign]

    def close(self) -> None:
        del self.lane.process

    async def __call__(self, topic: str, value: bytes, key: bytes | None = b"paper", partition: int = 0,
                       headers: list[tuple[str, bytes]] | None = None) -> None:
        message = Message(
            topic=topic, partition=partition, offset=self.offset, timestamp=time(), timestamp_type=0,
            headers=headers, key=key, value=value, checksum=b"", serialized_key_size=0, serialized_value_size=0,
            generation_id=self.wrapper.app.consumer_generation_id,
        )
        self.offset += 1
        channel = self.wrapper.stream().channel
        await channel.put(await channel.decode(message))
        await asyncio.wait_for(self.done.get(), timeout=10)
        if self.wrapper._crash_reason:
            raise self.wrapper._crash_reason


@contextlib.asynccontextmanager
async def running(agent, lane):
    """The lane's agent in Faust's test context, and a :class:`LaneDelivery` into it."""
    async with agent.test_context() as wrapper:
        deliver = LaneDelivery(wrapper, lane)
        try:
            yield deliver
        finally:
            deliver.close()


def lane(broker: str):
    """``async with lane("paper") as deliver``: the broker's own execution lane (risk included)."""
    from alphapanda.agents import execution

    return running(execution.lanes[broker], execution.executions[broker])


@pytest.fixture
def placed(monkeypatch) -> list[str]:
    """The order ids the paper venue is asked to place, in order (it still places them)."""
    from alphapanda.agents import execution

    venue = execution.venues["paper"]
    calls: list[str] = []
    original = venue.place

    async def counting_place(order, market):
        calls.append(order.order_id)
        return await original(order, market)

    monkeypatch.setattr(venue, "place", counting_place)
    return calls
