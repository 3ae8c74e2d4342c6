"""Sending from inside the worker: one cached Faust topic per name, sends awaited until acked."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable

import faust

from alphapanda.end_offsets import end_offsets

__all__ = ["TopicSender"]


class TopicSender:
    """``await sender(topic, key, value)`` returns once Kafka acknowledged the message."""

    def __init__(self, app: faust.App) -> None:
        self._app = app
        self._topics: dict[str, faust.TopicT] = {}

    def topic(self, name: str) -> faust.TopicT:
        topic = self._topics.get(name)
        if topic is None:
            topic = self._topics[name] = self._app.topic(name, key_serializer="raw", value_serializer="raw")
        return topic

    async def __call__(self, topic: str, key: bytes | None, value: bytes, headers=None) -> None:
        future = await self.topic(topic).send(key=key, value=value, headers=headers)
        await future

    async def enqueue(self, topic: str, key: bytes | None, value: bytes, headers=None) -> Awaitable:
        """Hand the message to the producer (in call order) and return its acknowledgement to await.

        Several sends awaited together with ``asyncio.gather`` reach the producer in whatever
        order their tasks run; enqueueing one after the other and then awaiting the acks keeps
        the order they were made in, at the same cost.
        """
        return await self.topic(topic).send(key=key, value=value, headers=headers)


async def topic_partitions(consumer, topic: str) -> list:
    """Every partition of ``topic`` as TopicPartitions (asking the broker once if not yet known)."""
    from aiokafka import TopicPartition

    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic) or set()
    return [TopicPartition(topic, p) for p in sorted(partitions)]


async def assign_tail(consumer, topic: str | Iterable[str], history: int) -> bool:
    """Read every partition of ``topic`` (or of several topics) from ``history`` messages before
    its end (no group).

    False when a topic has no partitions yet (the caller retries).
    """
    tps = []
    for name in [topic] if isinstance(topic, str) else topic:
        found = await topic_partitions(consumer, name)
        if not found:
            return False
        tps += found
    consumer.assign(tps)
    ends = await end_offsets(consumer, tps)
    for tp in tps:
        consumer.seek(tp, max(0, ends[tp] - history))
    return True
