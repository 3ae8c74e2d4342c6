"""When the consumer may hand a message to the streams without Faust's race against a rebalance."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from faust.types import TP

from alphapanda.transport import Consumer, awaiting_reset, seek_to_committed

TICKS = TP("market.ticks", 0)


class _Queue:
    def __init__(self, full: bool = False) -> None:
        self._full = full

    def full(self) -> bool:
        return self._full


class _Consumer:
    """The consumer's hand-over decisions, on a stand-in for the app."""

    _delivery_cannot_block = Consumer._delivery_cannot_block
    _flowing = Consumer._flowing
    _queue_full = Consumer._queue_full
    _wait_for_room = Consumer._wait_for_room

    def __init__(self, app, suspend_flow) -> None:
        self.app = app
        self.suspend_flow = suspend_flow


def _consumer(*, suspended=False, flow_active=True, buffered=0, full_queue=False):
    suspend_flow = asyncio.Event()
    if suspended:
        suspend_flow.set()
    channels = {TICKS: [SimpleNamespace(queue=_Queue()), SimpleNamespace(queue=_Queue(full_queue))]}
    flow = SimpleNamespace(active=flow_active)
    app = SimpleNamespace(
        flow_control=SimpleNamespace(is_active=lambda: flow.active),
        producer=SimpleNamespace(buffer=SimpleNamespace(size=buffered, max_messages=100)),
        topics=SimpleNamespace(_tp_index=channels),
    )
    return _Consumer(app, suspend_flow)


def test_direct_hand_over_when_nothing_can_wait():
    assert _consumer()._delivery_cannot_block(TICKS)
    assert _consumer(buffered=100)._delivery_cannot_block(TICKS)  # at the limit, not over
    assert _consumer()._delivery_cannot_block(TP("unsubscribed", 3))


@pytest.mark.parametrize(
    "state",
    [
        dict(suspended=True),  # a rebalance started
        dict(flow_active=False),  # flow control suspended: the conductor would wait for it
        dict(buffered=101),  # the producer buffer is over its limit: the conductor flushes first
        dict(full_queue=True),  # a stream's queue is full: the conductor waits for room
    ],
)
def test_faust_race_whenever_the_hand_over_could_wait(state):
    assert not _consumer(**state)._delivery_cannot_block(TICKS)


async def test_a_full_queue_is_waited_out_then_handed_over_directly():
    consumer = _consumer(full_queue=True)
    queue = consumer.app.topics._tp_index[TICKS][1].queue
    asyncio.get_running_loop().call_later(0.02, setattr, queue, "_full", False)
    await asyncio.wait_for(consumer._wait_for_room(TICKS), 1.0)
    assert consumer._delivery_cannot_block(TICKS)


async def test_waiting_for_room_stops_when_a_rebalance_suspends_the_flow():
    consumer = _consumer(full_queue=True)
    asyncio.get_running_loop().call_later(0.02, consumer.suspend_flow.set)
    await asyncio.wait_for(consumer._wait_for_room(TICKS), 1.0)
    assert not consumer._delivery_cannot_block(TICKS)  # so Faust's race decides, as before


async def test_seeking_to_committed_rewinds_partitions_committed_at_zero_or_never(cluster):
    topic = "paper.signals.raw"
    never, at_zero, at_two = (TopicPartition(topic, p) for p in range(3))
    producer = AIOKafkaProducer(bootstrap_servers=cluster.bootstrap)
    await producer.start()
    try:
        for tp in (never, at_zero, at_two):
            for i in range(3):
                await producer.send_and_wait(topic, b"%d" % i, partition=tp.partition)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=cluster.bootstrap, group_id="seek-test",
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([never, at_zero, at_two])
        await consumer.commit({at_zero: 0, at_two: 2})
        fetched = 0
        while fetched < 3 + 3 + 1:  # the streams were handed all of it, then a rebalance came
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 5)
            fetched += sum(len(records) for records in batch.values())
        committed = await seek_to_committed(consumer, reset="earliest")
        assert committed == {never: None, at_zero: 0, at_two: 2}
        assert [await consumer.position(tp) for tp in (never, at_zero, at_two)] == [0, 0, 2]
    finally:
        await consumer.stop()


async def test_a_partition_waiting_for_its_offset_reset_is_left_out_of_the_livelock_check(cluster):
    consumer = AIOKafkaConsumer(bootstrap_servers=cluster.bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition("paper.signals.raw", 0)
        consumer.assign([tp])  # nothing awaited since: the fetcher has not reset it yet
        assert awaiting_reset(consumer, TP(tp.topic, tp.partition))
        with pytest.raises(AssertionError):  # what Faust's livelock detector read, and crashed on
            consumer._fetcher._subscriptions.subscription.assignment.state_value(tp).position
        await consumer.seek_to_beginning(tp)
        assert not awaiting_reset(consumer, TP(tp.topic, tp.partition))
        assert not awaiting_reset(consumer, TP("paper.signals.raw", 3))  # not assigned here
        assert not awaiting_reset(None, TP(tp.topic, tp.partition))  # the thread has no consumer yet
    finally:
        await consumer.stop()
