"""End offsets of partitions, right on every broker the app talks to.

The embedded Tansu broker (0.6) answers ListOffsets(latest) with the first offset of a
partition's last record batch plus one, so after a batch of several records it names an offset
inside that batch (DESIGN.md; ``shared/broker/offsets_probe.py`` shows it). Its Fetch responses
carry the right high watermark. :func:`end_offsets` asks ListOffsets, then fetches once from the
offsets it named, which answers within a millisecond, and takes the high watermark of that answer. On Kafka
and Redpanda the two agree, so the same code serves every broker; it is what lets producers
batch records on Tansu instead of sending one record per batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.protocol.fetch import FetchRequest

__all__ = ["end_offsets"]

_READ_UNCOMMITTED = 0
#: Tansu leaves every partition out of a fetch answer whose wait is 0 ms; 1 ms is the shortest
#: wait it answers (at once when records are there, after the wait at the end of a partition).
_FETCH_WAIT_MS = 1


async def end_offsets(consumer: AIOKafkaConsumer, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
    """The offset after the last record of each partition (what a consumer at the end reads next)."""
    listed: dict[TopicPartition, int] = dict(await consumer.end_offsets(list(partitions)))
    client = consumer._client
    by_leader: dict[int, dict[str, list[tuple[int, int, int]]]] = defaultdict(lambda: defaultdict(list))
    for tp, offset in listed.items():
        leader = client.cluster.leader_for_partition(tp)
        if leader is None:
            await client.force_metadata_update()
            leader = client.cluster.leader_for_partition(tp)
        # One byte is enough: only the high watermark of the answer is read.
        by_leader[leader][tp.topic].append((tp.partition, offset, 1))
    ends = dict(listed)
    for leader, topics in by_leader.items():
        request = FetchRequest(_FETCH_WAIT_MS, 0, 1, _READ_UNCOMMITTED, list(topics.items()))
        response = await client.send(leader, request)
        for topic, answers in response.topics:
            for partition, error_code, highwater, *_ in answers:
                tp = TopicPartition(topic, partition)
                if error_code == 0 and highwater > ends[tp]:
                    ends[tp] = highwater
    return ends
