"""A key's partition by the producer's metadata, which aiokafka narrows once it meets a new topic."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from alphapanda.partition_lookup import TopicNotInMetadata, key_partition, wait_for_topic

TABLE_CHANGELOG = "paper.signals.raw"  # stands for a changelog this worker never wrote to


async def test_a_topic_dropped_from_the_narrowed_metadata_is_tracked_and_found_again(cluster):
    admin = AIOKafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    producer = AIOKafkaProducer(bootstrap_servers=cluster.bootstrap)
    await admin.start()
    await producer.start()
    try:
        # Tracking no topic yet, the producer's metadata lists every topic.
        await producer.client.force_metadata_update()
        expected = {key: key_partition(producer, TABLE_CHANGELOG, key) for key in (b"paper", b"zerodha", b"x")}
        assert len(set(expected.values())) > 1
        # A topic created after the start (as Faust creates changelogs), then written to: from
        # now on aiokafka asks only for the topics it has sent to.
        await admin.create_topics([NewTopic("created-later", 1, 1)])
        await producer.send_and_wait("created-later", b"v")
        assert producer.client.cluster.partitions_for_topic(TABLE_CHANGELOG) is None

        with pytest.raises(TopicNotInMetadata):
            key_partition(producer, TABLE_CHANGELOG, b"paper")
        # Tracked from that miss on: the next refresh lists it again.
        await producer.client.force_metadata_update()
        assert {key: key_partition(producer, TABLE_CHANGELOG, key) for key in expected} == expected

        # A caller that can wait (a web read) waits for another dropped topic instead.
        other = "zerodha.signals.raw"
        assert producer.client.cluster.partitions_for_topic(other) is None
        await wait_for_topic(producer, other)
        assert key_partition(producer, other, b"zerodha") in range(cluster.partitions)
    finally:
        await producer.stop()
        await admin.close()
