"""The producer's metadata, which aiokafka narrows to the topics it tracks once it meets a new one."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from alphapanda.producer_metadata import TopicNotInMetadata, TrackingProducer, key_partition, track, wait_for_topic

KNOWN = "paper.signals.raw"  # known from the full listing at the start


async def _started(cluster, producer_type, **options):
    producer = producer_type(bootstrap_servers=cluster.bootstrap, **options)
    await producer.start()
    await producer.client.force_metadata_update()  # tracking no topic yet: every topic is listed
    assert producer.client.cluster.partitions_for_topic(KNOWN)
    return producer


async def _create_topic(cluster) -> str:
    """A topic the producer does not know yet, as Faust creates changelogs after its start; it
    takes writes before it is returned, so that a first send to it narrows without waiting."""
    name = f"created-later-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1)])
    finally:
        await admin.close()
    writer = AIOKafkaProducer(bootstrap_servers=cluster.bootstrap)
    await writer.start()
    try:
        await writer.send_and_wait(name, b"ready")
    finally:
        await writer.stop()
    return name


async def _queued_then_narrowed(cluster, producer) -> asyncio.Future:
    """A record queued for KNOWN (lingering), then a first send to a new topic narrows the metadata."""
    later = await _create_topic(cluster)
    queued = await producer.send(KNOWN, b"queued")
    await producer.send_and_wait(later, b"v")
    return queued


async def test_aiokafka_strands_a_batch_queued_for_a_topic_the_narrowed_metadata_dropped(cluster):
    # When this fails, aiokafka keeps the topics it sends to, and TrackingProducer can go.
    producer = await _started(cluster, AIOKafkaProducer, linger_ms=1000)
    try:
        queued = await _queued_then_narrowed(cluster, producer)
        assert producer.client.cluster.partitions_for_topic(KNOWN) is None
        # No leader for its partition: it waits (until it expires, 40 s by default).
        done, _ = await asyncio.wait({queued}, timeout=4)
        assert not done
        track(producer, KNOWN)  # what TrackingProducer does at the first send: then it goes out
        assert (await asyncio.wait_for(queued, 20)).topic == KNOWN
    finally:
        await producer.stop()


async def test_the_tracking_producer_keeps_what_it_sends_to_listed_and_delivers_the_batch(cluster):
    producer = await _started(cluster, TrackingProducer, linger_ms=1000)
    try:
        queued = await _queued_then_narrowed(cluster, producer)
        assert (await asyncio.wait_for(queued, 10)).topic == KNOWN
        assert producer.client.cluster.partitions_for_topic(KNOWN)
    finally:
        await producer.stop()


async def test_a_key_lookup_tracks_its_topic_and_a_read_can_wait_for_it(cluster):
    producer = await _started(cluster, AIOKafkaProducer)
    try:
        table_changelog = "zerodha.signals.raw"  # stands for a changelog this worker never wrote to
        expected = {key: producer._partition(table_changelog, None, None, None, key, None)
                    for key in (b"paper", b"zerodha", b"x")}
        assert len(set(expected.values())) > 1
        await producer.send_and_wait(await _create_topic(cluster), b"v")  # narrowed
        assert producer.client.cluster.partitions_for_topic(table_changelog) is None

        with pytest.raises(TopicNotInMetadata):
            key_partition(producer, table_changelog, b"paper")
        # Tracked from that miss on: the next refresh lists it again.
        await producer.client.force_metadata_update()
        assert {key: key_partition(producer, table_changelog, key) for key in expected} == expected

        # A caller that can wait (a web read) waits for another dropped topic instead.
        other = "zerodha.signals.validated"
        assert producer.client.cluster.partitions_for_topic(other) is None
        await wait_for_topic(producer, other)
        assert key_partition(producer, other, b"zerodha") in range(cluster.partitions)
    finally:
        await producer.stop()
