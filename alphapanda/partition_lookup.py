"""Which partition of a topic holds a key, by the producer's partitioner and its metadata.

Faust finds the worker that owns a table key (for routing a web read, for "do I hold this
broker's account") by the producer's partitioner, which needs the changelog's partition count
from the producer's metadata. aiokafka's producer lists every topic in its metadata only until it
first meets one it does not know (a changelog Faust created after the producer started): from
then on each refresh asks for just the topics it has sent to, and the others drop out. A read of
a table this worker never wrote to then failed inside aiokafka with ``TypeError: 'NoneType'
object is not iterable`` (a 500 from the web view; seen in CI on the dashboard's reads).

:func:`key_partition` tracks such a topic from then on and says it is not known yet;
:func:`wait_for_topic` waits for it, for callers that can wait.
"""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

__all__ = ["TopicNotInMetadata", "key_partition", "wait_for_topic"]


class TopicNotInMetadata(KeyError):
    """The producer's metadata does not list the topic yet; it is tracked from now on."""


def key_partition(producer: AIOKafkaProducer, topic: str, key: bytes) -> int:
    if producer.client.cluster.partitions_for_topic(topic) is None:
        producer.client.add_topic(topic)  # every later refresh asks for it; this one runs now
        raise TopicNotInMetadata(topic)
    return producer._partition(topic, partition=None, key=None, value=None,
                               serialized_key=key, serialized_value=None)


async def wait_for_topic(producer: AIOKafkaProducer, topic: str) -> None:
    """Until the producer's metadata lists ``topic`` (aiokafka's ``KafkaError`` when the topic
    does not exist within its request timeout)."""
    await producer.client._wait_on_metadata(topic)
