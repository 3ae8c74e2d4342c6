"""Tick -> fill latency at a fixed tick rate.

The bench publishes ticks at ``rate`` per second and remembers when it sent each signalling tick
(by event id). A group-less consumer reads the pipeline's outputs as they appear; every event of
a chain carries the tick's id as its ``correlation_id``, so each fill (and, for the breakdown,
each raw and validated signal) is joined to the tick that caused it. Both clocks are this
process's monotonic clock, so latency includes the publish, every hop and the final fetch.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from alphapanda.bench.ticks import TickSource
from alphapanda.kafka_connection import as_connection
from alphapanda.kafka_io import assign_tail
from alphapanda.topics import MARKET_TICKS

__all__ = ["percentile", "summarize", "over_time", "ChainCollector", "PacedRun", "publish_paced"]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (0 < q <= 100)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summarize(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 50), 3),
        "p95": round(percentile(values, 95), 3),
        "p99": round(percentile(values, 99), 3),
        "max": round(max(values), 3) if values else math.nan,
    }


def over_time(samples: list[tuple[float, float]], origin: float, window: float) -> list[dict]:
    """Latency percentiles per ``window`` seconds of send time, from ``(sent_at, ms)`` samples.

    Shows whether latency holds over a run or grows with it (on the embedded broker it grows
    with the record batches a partition holds). ``t`` is the window's start after ``origin``.
    """
    windows: dict[int, list[float]] = {}
    for sent, ms in samples:
        windows.setdefault(max(0, int((sent - origin) // window)), []).append(ms)
    return [
        {"t": round(index * window, 1), "n": len(values),
         "p50": round(percentile(values, 50), 3), "p99": round(percentile(values, 99), 3)}
        for index, values in sorted(windows.items())
    ]


@dataclass
class ChainCollector:
    """Arrival times of chain events on ``topics`` (stage name -> topic), joined to sent ticks."""

    bootstrap: str
    topics: dict[str, str]
    sent_at: dict[str, float] = field(default_factory=dict)
    #: (send time, latency in ms) of each joined event, per stage.
    samples: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    _consumer: AIOKafkaConsumer | None = None
    _task: asyncio.Task | None = None

    async def start(self) -> None:
        """Start reading at the current end of every topic (only new events count)."""
        self.samples = {stage: [] for stage in self.topics}
        self._stage_of = {topic: stage for stage, topic in self.topics.items()}
        consumer = self._consumer = AIOKafkaConsumer(
            **as_connection(self.bootstrap).options(), group_id=None, enable_auto_commit=False, fetch_max_wait_ms=5,
        )
        await consumer.start()
        if not await assign_tail(consumer, self.topics.values(), history=0):
            raise RuntimeError(f"no partitions for {sorted(self.topics.values())}")
        for tp in consumer.assignment():
            await consumer.position(tp)  # resolve now, before the first tick is sent
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        consumer = self._consumer
        while True:
            batches = await consumer.getmany(timeout_ms=100)
            arrived = time.perf_counter()
            for tp, records in batches.items():
                stage = self._stage_of[tp.topic]
                for record in records:
                    sent = self.sent_at.get(json.loads(record.value).get("correlation_id"))
                    if sent is not None:
                        self.samples[stage].append((sent, (arrived - sent) * 1000))

    @property
    def latencies_ms(self) -> dict[str, list[float]]:
        """Latency in ms of each joined event, per stage."""
        return {stage: [ms for _, ms in samples] for stage, samples in self.samples.items()}

    def count(self, stage: str) -> int:
        return len(self.samples[stage])

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._consumer is not None:
            await self._consumer.stop()


@dataclass
class PacedRun:
    sent: int
    signalling: int
    seconds: float
    started: float  # perf_counter() at the first tick


async def publish_paced(
    bootstrap: str, source: TickSource, *, rate: float, seconds: float, sent_at: dict[str, float],
    every_second: Callable[[float], None] | None = None, topic: str = MARKET_TICKS, linger_ms: float = 5.0,
) -> PacedRun:
    """Publish ``rate`` ticks/s for ``seconds``, each stamped with the wall clock when made.

    The send time of each signalling tick goes into ``sent_at``; ``every_second`` is called
    with the elapsed seconds about once a second (for memory samples).
    """
    # Batched like the app's own TickPublisher (linger 5 ms by default): on the embedded broker
    # fetches get slower with every record batch a partition holds, so one batch per tick would
    # measure the broker's log rather than the pipeline.
    producer = AIOKafkaProducer(
        **as_connection(bootstrap).options(), linger_ms=linger_ms, acks=1, enable_idempotence=False,
    )
    await producer.start()
    sent = signalling = 0
    try:
        started = time.perf_counter()
        next_report = 1.0
        total = int(rate * seconds)
        while sent < total:
            elapsed = time.perf_counter() - started
            due = min(total, int(rate * elapsed) + 1)
            now = datetime.now(timezone.utc)
            while sent < due:
                tick = source.next(now)
                if tick.signals:
                    sent_at[tick.id] = time.perf_counter()
                    signalling += 1
                await producer.send(topic, key=tick.key, value=tick.value)
                sent += 1
            if every_second is not None and elapsed >= next_report:
                every_second(elapsed)
                next_report += 1.0
            await asyncio.sleep(max(0.0, (sent / rate) - (time.perf_counter() - started)))
        await producer.flush()
        return PacedRun(sent, signalling, time.perf_counter() - started, started)
    finally:
        await producer.stop()
