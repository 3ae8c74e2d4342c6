"""Sending from inside the worker: one cached Faust topic per name, sends awaited until acked."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable

import faust
from aiokafka.errors import KafkaConnectionError

from alphapanda.end_offsets import end_offsets

__all__ = ["TopicSender"]

log = logging.getLogger(__name__)


class _EventTopic(faust.Topic):
    """A Faust topic whose messages go out through its sender's producer."""

    def __init__(self, *args, sender: "TopicSender | None" = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._sender = sender

    async def _get_producer(self):
        if self._sender is None:  # a clone (Faust derives topics without our arguments)
            return await super()._get_producer()
        return await self._sender.producer()


class TopicSender:
    """``await sender(topic, key, value)`` returns once Kafka acknowledged the message.

    The pipeline's events (signals, orders, fills, snapshots, dead letters) go out through a
    producer of their own, beside the app's, which carries Faust's changelogs. aiokafka sends one
    request at a time per broker and producer, so on one producer an event waited behind every
    changelog request in flight: the strategy stage's checkpoint (a record per instrument, every
    commit interval) went out as requests of ~46 ms each in the bench, and the signals, orders
    and fills of those moments waited for them (tick -> fill p99 of that second 140-250 ms). Both
    producers are the app's transport's, with the same settings (acks, idempotence, tuning).
    """

    #: Seconds between tries to start the producer while the broker cannot be reached (doubled, to 5).
    RETRY_SECONDS = 0.5

    def __init__(self, app: faust.App) -> None:
        self._app = app
        self._topics: dict[str, faust.TopicT] = {}
        self._producer = None
        self._starting: asyncio.Future | None = None
        # Started before the streams first resume, so the first event does not wait for it.
        app.on_rebalance_complete.connect(self._on_rebalance_complete)

    async def _on_rebalance_complete(self, sender, **kwargs) -> None:
        # Not awaited: recovery signals this, and a broker that is away (killed just then) must
        # not crash the recovery with it; the first send waits for the same start.
        if self._producer is None:
            self._begin_start()

    def topic(self, name: str) -> faust.TopicT:
        topic = self._topics.get(name)
        if topic is None:
            topic = self._topics[name] = _EventTopic(
                self._app, topics=[name], key_serializer="raw", value_serializer="raw", sender=self,
            )
        return topic

    async def producer(self):
        """The events' producer: started when recovery first completes (or by an earlier send),
        stopped, and so flushed, with the app. While the broker cannot be reached, callers wait."""
        if self._producer is not None:
            return self._producer
        return await asyncio.shield(self._begin_start())

    def _begin_start(self) -> asyncio.Future:
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._start())
            self._starting.add_done_callback(_retrieved)
        return self._starting

    async def _start(self):
        delay = self.RETRY_SECONDS
        while True:
            producer = self._app.transport.create_producer(beacon=self._app.beacon)
            try:
                await self._app.add_runtime_dependency(producer)
            except (KafkaConnectionError, OSError) as exc:
                # The broker is away: drop this one and try again, as the app's own producer
                # waits for it; the events wait with their stages and nothing is lost.
                log.warning("events producer: cannot reach Kafka (%r); retrying in %.1f s", exc, delay)
                await _discard(self._app, producer)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            except BaseException:
                self._starting = None  # the next send tries again
                await _discard(self._app, producer)
                raise
            else:
                self._producer = producer
                return producer

    async def __call__(self, topic: str, key: bytes | None, value: bytes, headers=None) -> None:
        future = await self.topic(topic).send(key=key, value=value, headers=headers)
        await future

    async def enqueue(self, topic: str, key: bytes | None, value: bytes, headers=None) -> Awaitable:
        """Hand the message to the producer (in call order) and return its acknowledgement to await.

        Several sends awaited together with ``asyncio.gather`` reach the producer in whatever
        order their tasks run; enqueueing one after the other and then awaiting the acks keeps
        the order they were made in, at the same cost.
        """
        return await self.topic(topic).send(key=key, value=value, headers=headers)


def _retrieved(future: asyncio.Future) -> None:
    """Mark a start's failure seen: a start no send waited for (kicked off at recovery) fails
    quietly, and the next send starts again."""
    if not future.cancelled():
        future.exception()


async def _discard(app, producer) -> None:
    """Take a producer that failed to start out of the app's services again."""
    remove = getattr(app, "remove_dependency", None)
    if remove is None:
        return
    try:
        await remove(producer)
    except Exception as exc:  # it never started: nothing to flush
        log.debug("events producer: discarding a failed one: %r", exc)


async def topic_partitions(consumer, topic: str) -> list:
    """Every partition of ``topic`` as TopicPartitions (asking the broker once if not yet known)."""
    from aiokafka import TopicPartition

    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic) or set()
    return [TopicPartition(topic, p) for p in sorted(partitions)]


async def assign_tail(consumer, topic: str | Iterable[str], history: int) -> bool:
    """Read every partition of ``topic`` (or of several topics) from ``history`` messages before
    its end (no group).

    False when a topic has no partitions yet (the caller retries).
    """
    tps = []
    for name in [topic] if isinstance(topic, str) else topic:
        found = await topic_partitions(consumer, name)
        if not found:
            return False
        tps += found
    consumer.assign(tps)
    ends = await end_offsets(consumer, tps)
    for tp in tps:
        consumer.seek(tp, max(0, ends[tp] - history))
    return True
