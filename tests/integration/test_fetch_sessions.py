"""Fetch sessions against the real broker: every record once, in order, through takes, seeks,
pauses and a lost session; and the requests really are incremental."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from alphapanda.fetch_sessions import SessionFetcher, use_fetch_sessions
from tests.support.pipeline import BROKER_KIND, Cluster

pytestmark = pytest.mark.skipif(BROKER_KIND != "kafka", reason="fetch sessions are used on Kafka only")

TOPICS = ("paper.signals.raw", "paper.orders.filled")
PARTITIONS = [TopicPartition(topic, p) for topic in TOPICS for p in range(4)]


@pytest.fixture(scope="module")
def kafka(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("fetch-sessions")).start()
    yield cluster
    cluster.stop()


class _Recorder:
    """Every session step the fetcher makes (what each request named and dropped)."""

    def __init__(self, fetcher: SessionFetcher) -> None:
        self.steps = []
        original = fetcher._get_actions_per_node

        def actions(assignment):
            requests, *rest = original(assignment)
            self.steps += [request.step for _, request in requests]
            return (requests, *rest)

        fetcher._get_actions_per_node = actions


async def _produce(bootstrap: str, counts: dict[TopicPartition, int], tag: str) -> dict[TopicPartition, list[bytes]]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2)
    await producer.start()
    sent: dict[TopicPartition, list[bytes]] = {}
    try:
        acks = []
        for tp, n in counts.items():
            for i in range(n):
                value = f"{tag}-{tp.topic}-{tp.partition}-{i}".encode()
                sent.setdefault(tp, []).append(value)
                acks.append(await producer.send(tp.topic, value, partition=tp.partition))
        await asyncio.gather(*acks)
    finally:
        await producer.stop()
    return sent


async def _take(consumer: AIOKafkaConsumer, expected: int, *, seconds: float = 15) -> dict[TopicPartition, list[bytes]]:
    got: dict[TopicPartition, list[bytes]] = {}
    deadline = asyncio.get_running_loop().time() + seconds
    while sum(map(len, got.values())) < expected and asyncio.get_running_loop().time() < deadline:
        for tp, records in (await consumer.getmany(timeout_ms=200)).items():
            got.setdefault(tp, []).extend(r.value for r in records)
    # Anything more would be a record fetched twice.
    for tp, records in (await consumer.getmany(timeout_ms=300)).items():
        got.setdefault(tp, []).extend(r.value for r in records)
    return got


async def _session_consumer(bootstrap: str) -> tuple[AIOKafkaConsumer, _Recorder]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
    await consumer.start()
    use_fetch_sessions(consumer)
    recorder = _Recorder(consumer._fetcher)
    consumer.assign(PARTITIONS)
    await consumer.seek_to_end(*PARTITIONS)
    return consumer, recorder


async def test_every_record_once_and_in_order_with_incremental_requests(kafka):
    consumer, recorder = await _session_consumer(kafka.bootstrap)
    try:
        await _take(consumer, 0, seconds=0.5)  # positions settled, the session opened
        for round_ in range(3):
            counts = {tp: 3 + i for i, tp in enumerate(PARTITIONS) if (i + round_) % 3}
            sent = await _produce(kafka.bootstrap, counts, f"r{round_}")
            assert await _take(consumer, sum(counts.values())) == sent
        sessions = list(consumer._fetcher._sessions.values())
        assert len(sessions) == 1 and sessions[0].session_id != 0 and sessions[0].epoch > 3
    finally:
        await consumer.stop()
    incremental = [step for step in recorder.steps if not step.full]
    assert incremental, "no request ran in a session"
    # An incremental request names only partitions whose offset moved: never all eight.
    assert max(len(step.send) for step in incremental) < len(PARTITIONS)
    assert any(not step.send for step in incremental)  # idle polls name nothing


async def test_a_seek_and_a_pause_are_followed(kafka):
    consumer, recorder = await _session_consumer(kafka.bootstrap)
    first, paused = PARTITIONS[0], PARTITIONS[5]
    try:
        await _take(consumer, 0, seconds=0.5)
        start = await consumer.position(first)
        sent = await _produce(kafka.bootstrap, {first: 4}, "seek")
        assert await _take(consumer, 4) == sent
        consumer.seek(first, start + 1)  # back three records: the session must fetch from there
        assert await _take(consumer, 3) == {first: sent[first][1:]}

        consumer.pause(paused)
        sent = await _produce(kafka.bootstrap, {paused: 2}, "pause")
        assert await _take(consumer, 1, seconds=1.0) == {}
        assert any(paused in step.forget for step in recorder.steps)
        consumer.resume(paused)
        assert await _take(consumer, 2) == sent
    finally:
        await consumer.stop()


async def test_a_session_the_broker_lost_falls_back_to_a_full_fetch(kafka):
    consumer, recorder = await _session_consumer(kafka.bootstrap)
    try:
        await _take(consumer, 0, seconds=0.5)
        session = next(iter(consumer._fetcher._sessions.values()))
        assert session.session_id != 0
        session.session_id += 1  # a session the broker never opened: FETCH_SESSION_ID_NOT_FOUND
        before = len(recorder.steps)
        sent = await _produce(kafka.bootstrap, {PARTITIONS[2]: 5, PARTITIONS[7]: 1}, "lost")
        assert await _take(consumer, 6) == sent
        assert any(step.full for step in recorder.steps[before:])
        assert session.session_id != 0 and session.epoch >= 1
    finally:
        await consumer.stop()
