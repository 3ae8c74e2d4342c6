"""The latency yardstick: the pipeline's tick -> fill chain made of raw aiokafka relays.

A fill is seen three topics after its tick (ticks, raw signals, fills: a broker's execution lane
places an order in the step that validates its signal, and writes the validated signal beside
it). Here two plain relays pass the signalling ticks along three topics of the same shape: ticks
keyed by instrument over every partition, the rest keyed by the account, so on one partition, as
order flow is. Like a worker, the relays share one consumer (the same fetch wait) and one producer (the
same batch limit), and they run at the paced phase's rate for as long, so the broker holds as
many record batches. There is no Faust and no work per message: what this measures is the
broker's and the client's share of the chain, the floor under the pipeline's tick -> fill latency
on this broker.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from alphapanda.bench.latency import ChainCollector, PacedRun, publish_paced
from alphapanda.bench.ticks import TickSource
from alphapanda.kafka_connection import as_connection
from alphapanda.kafka_io import assign_tail

__all__ = ["CHAIN_TOPICS", "ChainShape", "relay_chain_latency"]

#: Stand-ins for market.ticks, {broker}.signals.raw and .orders.filled.
CHAIN_TOPICS = (
    "alphapanda-bench.chain.ticks",
    "alphapanda-bench.chain.signals",
    "alphapanda-bench.chain.fills",
)
_ACCOUNT_KEY = b"paper"


@dataclass(frozen=True)
class ChainShape:
    """The client settings a worker gets on this broker (see alphapanda.app)."""

    fetch_max_wait_ms: int
    max_batch_size: int  # bytes, the producer's batch limit per partition
    tick_batch_ms: float  # the tick publisher's linger, as in the paced phase


async def _relay(consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, signalling: dict[str, float]) -> None:
    """Forward each record to the next chain topic; from the ticks only the signalling ones."""
    hop = {topic: index for index, topic in enumerate(CHAIN_TOPICS)}
    while True:
        batches = await consumer.getmany(timeout_ms=100)
        for tp, records in batches.items():
            target = CHAIN_TOPICS[hop[tp.topic] + 1]
            for record in records:
                event = json.loads(record.value)
                if hop[tp.topic] == 0 and event["id"] not in signalling:
                    continue
                await producer.send(target, key=_ACCOUNT_KEY, value=json.dumps(event).encode())


async def relay_chain_latency(
    bootstrap: str, source: TickSource, *, rate: float, seconds: float, shape: ChainShape,
    drain_timeout: float = 20.0,
) -> tuple[PacedRun, list[float]]:
    """Publish ``rate`` ticks/s for ``seconds`` into the chain; tick -> last topic latencies in ms.

    The chain topics must exist (with the pipeline's partition count).
    """
    collector = ChainCollector(bootstrap, {"fill": CHAIN_TOPICS[-1]})
    consumer = AIOKafkaConsumer(
        **as_connection(bootstrap).options(), group_id=None, enable_auto_commit=False,
        fetch_max_wait_ms=shape.fetch_max_wait_ms,
    )
    producer = AIOKafkaProducer(
        **as_connection(bootstrap).options(), acks=-1, max_batch_size=shape.max_batch_size, enable_idempotence=False,
    )
    await collector.start()
    await consumer.start()
    await producer.start()
    relay: asyncio.Task | None = None
    try:
        if not await assign_tail(consumer, CHAIN_TOPICS[:-1], history=0):
            raise RuntimeError(f"no partitions for {CHAIN_TOPICS[:-1]}")
        for tp in consumer.assignment():
            await consumer.position(tp)  # resolved before the first tick is sent
        relay = asyncio.create_task(_relay(consumer, producer, collector.sent_at))
        run = await publish_paced(
            bootstrap, source, rate=rate, seconds=seconds, sent_at=collector.sent_at,
            topic=CHAIN_TOPICS[0], linger_ms=shape.tick_batch_ms,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain_timeout
        while collector.count("fill") < run.signalling and loop.time() < deadline:
            if relay.done():
                relay.result()  # raises what stopped it
            await asyncio.sleep(0.05)
        return run, collector.latencies_ms["fill"]
    finally:
        if relay is not None:
            relay.cancel()
            try:
                await relay
            except (asyncio.CancelledError, Exception):
                pass
        await collector.stop()
        await consumer.stop()
        await producer.stop()
