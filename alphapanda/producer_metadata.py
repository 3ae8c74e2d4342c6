"""The producer's metadata: every topic the worker sends to or looks keys up in stays listed.

aiokafka's producer lists every topic in its metadata only while it tracks none: the first time
it meets a topic it does not know (a changelog Faust created after the producer started), it
tracks that one, and from then on each refresh asks for the tracked topics only. A topic it knew
from the full listing and sent to without tracking drops out, and so does its partitions'
leaders. Two failures came of it, both seen in CI:

- a batch already queued for such a topic waits for a leader that no refresh brings back, until
  it expires (minutes): the order's fill never left the worker, after its submission had;
- Faust's router finds a table key's owner with the producer's partitioner, which then found no
  partition count: ``TypeError: 'NoneType' object is not iterable`` and a 500 on the web read.

:class:`TrackingProducer` tracks every topic it sends to, from its first send, so a queued batch
always has its leader. :func:`key_partition` tracks the topic it is asked about and says when it
is not listed yet; :func:`wait_for_topic` waits for it, for callers that can wait.
"""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

__all__ = ["TrackingProducer", "TopicNotInMetadata", "key_partition", "wait_for_topic"]


class TrackingProducer(AIOKafkaProducer):
    """aiokafka's producer, tracking each topic in its metadata from the first send to it."""

    async def send(self, topic, *args, **kwargs):
        track(self, topic)
        return await super().send(topic, *args, **kwargs)


def track(producer: AIOKafkaProducer, topic: str) -> None:
    client = producer.client
    if topic not in client._topics:
        client.add_topic(topic)  # the next refresh asks for it too; a new topic refreshes now


class TopicNotInMetadata(KeyError):
    """The producer's metadata does not list the topic yet; it is tracked from now on."""


def key_partition(producer: AIOKafkaProducer, topic: str, key: bytes) -> int:
    """The partition of ``key`` in ``topic`` by the producer's partitioner."""
    track(producer, topic)
    if producer.client.cluster.partitions_for_topic(topic) is None:
        raise TopicNotInMetadata(topic)
    return producer._partition(topic, partition=None, key=None, value=None,
                               serialized_key=key, serialized_value=None)


async def wait_for_topic(producer: AIOKafkaProducer, topic: str) -> None:
    """Until the producer's metadata lists ``topic`` (aiokafka's ``KafkaError`` when the topic
    does not exist within its request timeout)."""
    track(producer, topic)
    await producer.client._wait_on_metadata(topic)
