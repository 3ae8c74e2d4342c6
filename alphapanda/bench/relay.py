"""The yardstick: a raw aiokafka consume -> JSON decode/encode -> produce relay.

It reads the same tick bytes from a topic of the same partition count as ``market.ticks`` and
writes them to another, with a batching producer, on the same broker as the pipeline. Whatever
the pipeline achieves is reported as a fraction of this: the cost of Kafka I/O and JSON alone.
"""

from __future__ import annotations

import asyncio
import json
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from alphapanda.kafka_connection import as_connection

__all__ = ["relay_rate", "RELAY_IN", "RELAY_OUT"]

RELAY_IN = "alphapanda-bench.relay.in"
RELAY_OUT = "alphapanda-bench.relay.out"


async def relay_rate(
    bootstrap: str, start_offsets: dict[int, int], count: int, *,
    source: str = RELAY_IN, target: str = RELAY_OUT, timeout: float = 120.0,
) -> float:
    """Relay ``count`` messages starting at ``start_offsets`` (partition -> offset); messages/s.

    Timed from the first record received to the last produce acknowledged.
    """
    consumer = AIOKafkaConsumer(
        **as_connection(bootstrap).options(), group_id=None, enable_auto_commit=False,
        fetch_max_wait_ms=50, max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    producer = AIOKafkaProducer(
        **as_connection(bootstrap).options(), linger_ms=5, acks=1, max_batch_size=256 * 1024,
        enable_idempotence=False,
    )
    await consumer.start()
    await producer.start()
    try:
        tps = [TopicPartition(source, p) for p in sorted(start_offsets)]
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, start_offsets[tp.partition])
        relayed = 0
        started: float | None = None
        pending: list[asyncio.Future] = []
        deadline = time.monotonic() + timeout
        while relayed < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"relay moved {relayed} of {count} messages in {timeout:.0f} s")
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            if started is None and batches:
                started = time.perf_counter()
            for records in batches.values():
                for record in records:
                    value = json.dumps(json.loads(record.value), separators=(",", ":")).encode()
                    pending.append(await producer.send(target, key=record.key, value=value))
                    relayed += 1
            if len(pending) > 20_000:  # bound memory; acks arrive in order per partition
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        assert started is not None
        return relayed / (time.perf_counter() - started)
    finally:
        await consumer.stop()
        await producer.stop()
