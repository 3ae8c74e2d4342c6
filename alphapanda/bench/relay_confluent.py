"""The second yardstick: the same raw relay as :mod:`alphapanda.bench.relay`, on confluent-kafka.

confluent-kafka wraps librdkafka (C): its fetching, batching and protocol work run in native
threads, so what is left in Python is one call per message and the JSON. Beside the aiokafka
relay (the limit of the client stack the pipeline uses) it shows the limit of Python on Kafka
on this machine. Same bytes, same topic shape, same JSON round trip per message, the same
producer batching (5 ms linger, 256 KiB batches, acks=1).
"""

from __future__ import annotations

import asyncio
import json
import time

from alphapanda.kafka_connection import KafkaConnection, as_connection

__all__ = ["RELAY_OUT_CONFLUENT", "confluent_relay_rate", "confluent_missing"]

RELAY_OUT_CONFLUENT = "alphapanda-bench.relay.confluent.out"


def confluent_missing() -> str | None:
    """Why the confluent-kafka relay cannot run here, or None."""
    try:
        import confluent_kafka  # noqa: F401
    except ImportError as exc:
        return f"confluent-kafka is not installed ({exc}): pip install confluent-kafka"
    return None


def _relay(connection: KafkaConnection, start_offsets: dict[int, int], count: int, source: str, target: str,
           timeout: float) -> float:
    from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

    common = connection.librdkafka_config()
    # A group id is required by the API; nothing is committed and the partitions are assigned.
    consumer = Consumer({**common, "group.id": "alphapanda-bench-relay-confluent", "enable.auto.commit": False,
                         "fetch.wait.max.ms": 50, "max.partition.fetch.bytes": 4 * 1024 * 1024})
    producer = Producer({**common, "linger.ms": 5, "acks": 1, "batch.size": 256 * 1024, "enable.idempotence": False,
                         "queue.buffering.max.messages": 1_000_000})
    failures: list[str] = []

    def delivered(error, _message) -> None:
        if error is not None:
            failures.append(str(error))

    try:
        consumer.assign([TopicPartition(source, p, start_offsets[p]) for p in sorted(start_offsets)])
        relayed = 0
        started: float | None = None
        deadline = time.monotonic() + timeout
        while relayed < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"confluent-kafka relay moved {relayed} of {count} messages in {timeout:.0f} s")
            records = consumer.consume(num_messages=5000, timeout=0.2)
            if started is None and records:
                started = time.perf_counter()
            for record in records:
                if record.error() is not None:
                    raise KafkaException(record.error())
                value = json.dumps(json.loads(record.value()), separators=(",", ":")).encode()
                while True:
                    try:
                        producer.produce(target, value=value, key=record.key(), on_delivery=delivered)
                        break
                    except BufferError:  # the local queue is full: let deliveries drain it
                        producer.poll(0.01)
                relayed += 1
            producer.poll(0)
        left = producer.flush(timeout)
        if left or failures:
            raise RuntimeError(f"confluent-kafka relay: {left} undelivered, {len(failures)} failed ({failures[:1]})")
        assert started is not None
        return relayed / (time.perf_counter() - started)
    finally:
        consumer.close()


async def confluent_relay_rate(
    bootstrap: str | KafkaConnection, start_offsets: dict[int, int], count: int, *, source: str, target: str,
    timeout: float = 120.0,
) -> float:
    """Relay ``count`` messages from ``start_offsets`` (partition -> offset) of ``source``; messages/s.

    Timed from the first record received to the last delivery confirmed, like the aiokafka relay.
    librdkafka blocks, so it runs in a thread.
    """
    return await asyncio.to_thread(_relay, as_connection(bootstrap), start_offsets, count, source, target, timeout)
