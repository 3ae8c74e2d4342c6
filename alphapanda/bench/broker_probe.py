"""How long the broker takes to answer a fetch at the end of a partition.

On a real Kafka or Redpanda cluster this stays near a millisecond however long the log; the
embedded Tansu broker's fetch cost grows with the record batches a partition holds (it keeps
every batch and honours no retention). Measured before and after the paced phase, it shows how
much of the tick -> fill latency is the broker's.
"""

from __future__ import annotations

import statistics
import time

from aiokafka import AIOKafkaConsumer

from alphapanda.end_offsets import end_offsets
from alphapanda.kafka_connection import as_connection
from alphapanda.kafka_io import topic_partitions

__all__ = ["tail_fetch_ms"]


async def tail_fetch_ms(bootstrap: str, topic: str, *, samples: int = 5) -> float | None:
    """Median milliseconds to fetch the last record of ``topic``'s longest partition (None: empty)."""
    consumer = AIOKafkaConsumer(**as_connection(bootstrap).options(), enable_auto_commit=False, fetch_max_wait_ms=10)
    await consumer.start()
    try:
        ends = await end_offsets(consumer, await topic_partitions(consumer, topic))
        tp, end = max(ends.items(), key=lambda item: item[1], default=(None, 0))
        if end == 0:
            return None
        consumer.assign([tp])
        timings = []
        for _ in range(samples):
            consumer.seek(tp, end - 1)
            started = time.perf_counter()
            records = await consumer.getmany(tp, timeout_ms=10_000, max_records=1)
            if not records:
                return None
            timings.append((time.perf_counter() - started) * 1000)
        return round(statistics.median(timings), 1)
    finally:
        await consumer.stop()
