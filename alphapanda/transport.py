"""Faust's aiokafka transport, with a cheaper hand-over of each fetched message.

Faust's consumer hands every fetched message to the streams through ``Service.wait_first``,
racing the delivery against the "suspend flow" event of a rebalance. That creates four tasks
and an ``asyncio.wait`` per message, the largest single cost per tick on the tick path. The
delivery only needs the race when it can block: when flow control is suspended, the producer
buffer is over its limit, or a receiving stream's queue is full. Otherwise it finishes without
ever yielding, so :class:`Consumer` awaits it directly and keeps Faust's race for the rest.

A batch topic (:mod:`alphapanda.batch_topics`, the ticks) skips the per-message hand-over
altogether: :meth:`Consumer.getmany` takes its records out of each fetch for its handler, and
the handler's :meth:`Consumer.ack_through` stands in for per-message acks.

Seeking to the committed offsets (what Faust does after every rebalance, so that records fetched
but not handled are fetched again) also rewinds partitions nobody has committed yet (see
:func:`seek_to_committed`). Against the embedded Tansu broker the consumer also uses a short
fetch wait (see :data:`TANSU_FETCH_MAX_WAIT_MS`) and reads the changelogs' end offsets with
:func:`alphapanda.end_offsets.end_offsets`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP

from alphapanda.batch_topics import Fetched, batch_handlers
from alphapanda.end_offsets import end_offsets
from alphapanda.fetch_sessions import use_fetch_sessions
from alphapanda.producer_metadata import TrackingProducer, key_partition, wait_for_topic

__all__ = ["Transport", "TansuTransport", "TANSU_FETCH_MAX_WAIT_MS", "seek_to_committed"]

#: Tansu answers a fetch only when its wait time is up, even if records arrived meanwhile
#: (measured: median delay about a quarter of ``fetch_max_wait_ms``, worst about half). Faust
#: hard-codes 1500 ms, which cost ~0.4 s per hop; 10 ms keeps a hop at a few ms for the price of
#: ~100 small fetches per second on an idle worker. Real Kafka and Redpanda return as soon as
#: records arrive, so they keep Faust's default.
TANSU_FETCH_MAX_WAIT_MS = 10


#: On Kafka too, Faust's 1500 ms fetch wait costs up to that much per hop: aiokafka leaves out of
#: a fetch request the partitions whose records the worker has not taken yet, so a request that
#: asks only for quiet partitions waits its full time while ticks pile up elsewhere (measured:
#: tick -> fill p50 1.5 s at 1,000 ticks/s, the process mostly idle). A short wait answers at once
#: when records arrive and costs an idle worker a few empty fetches a second.
KAFKA_FETCH_MAX_WAIT_MS = 20


#: Seconds between looks at a full stream queue (see :meth:`Consumer._wait_for_room`).
ROOM_POLL = 0.001


class Consumer(aiokafka_driver.Consumer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Batch topics (alphapanda.batch_topics): per partition, the offset its handler finished
        # everything before, waiting for Faust's next commit.
        self._acked_through: dict[TP, int] = {}

    # Faust pauses a partition only in its own books (it stops asking for its records), and
    # aiokafka keeps putting it in every fetch request: after recovery that is every changelog
    # partition, about as many as the partitions the worker reads. Each fetch then encodes and
    # decodes all of them, in Python, hundreds of times a second at a paced tick rate; and the
    # records fetched for them are never taken. So pauses and resumes go to aiokafka too. A
    # rebalance gives aiokafka fresh, unpaused partitions: it is never more paused than Faust.
    def pause_partitions(self, tps) -> None:
        super().pause_partitions(tps)
        self._in_consumer_thread("pause", tps)

    def resume_partitions(self, tps) -> None:
        super().resume_partitions(tps)
        self._in_consumer_thread("resume", tps)

    def _in_consumer_thread(self, action: str, tps) -> None:
        thread = getattr(self, "_thread", None)
        consumer = getattr(thread, "_consumer", None)
        loop = getattr(thread, "thread_loop", None)
        if consumer is None or loop is None or loop.is_closed():
            return
        wanted = {TopicPartition(tp.topic, tp.partition) for tp in tps}

        def apply() -> None:
            partitions = wanted & consumer.assignment()
            if partitions:
                getattr(consumer, action)(*partitions)

        loop.call_soon_threadsafe(apply)

    def ack_through(self, tp: TP, offset: int) -> None:
        """Faust may commit ``offset`` for ``tp`` (a batch topic's partition) with its next commit."""
        if offset > self._acked_through.get(tp, -1):
            self._acked_through[tp] = offset

    def _filter_tps_with_pending_acks(self, topics=None):
        yield from super()._filter_tps_with_pending_acks(topics)
        for tp in self._acked_through:
            if topics is None or tp in topics or tp.topic in topics:
                yield tp

    def _new_offset(self, tp: TP) -> int | None:
        if tp in self._acked_through:
            return self._acked_through.pop(tp)
        return super()._new_offset(tp)

    async def getmany(self, timeout: float):
        # Faust 0.15.3's Consumer.getmany, with the batch topics' records taken out (marked).
        records, active_partitions = await self._wait_next_records(timeout)
        generation_id = self.app.consumer_generation_id
        if records is None or self.should_stop:
            return
        handlers = batch_handlers(self.app)  # added: batch topics first, all of a fetch at once
        if handlers and self.flow_active:
            await self._hand_over_batches(records, active_partitions, generation_id, handlers)
            if self.app.consumer_generation_id != generation_id:
                return
        records_it = self.scheduler.iterate(records)
        to_message = self._to_message
        if self.flow_active:
            for tp, record in records_it:
                if not self.flow_active:
                    break
                if self.app.consumer_generation_id != generation_id:
                    self.log.dev("Generation id changed from %r. Cancelling getmany.", generation_id)
                    break
                if active_partitions is None or tp in active_partitions or tp in self._buffered_partitions:
                    self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                    yield tp, to_message(tp, record)
        else:
            self.log.dev("getmany called while flow not active. Seek back to committed offsets.")
            try:
                await self.perform_seek()
            except Exception as ex:
                self.log.warning(f"exception performing seek when flow not active {ex}")

    async def _hand_over_batches(self, records, active_partitions, generation_id: int, handlers) -> None:
        """Takes the batch topics' records out of ``records`` and awaits their handlers."""
        by_topic: dict[str, list[Fetched]] = {}
        for tp in [tp for tp in records if tp.topic in handlers]:
            fetched = records.pop(tp)
            if active_partitions is not None and tp not in active_partitions:
                # Paused between the fetch and now: the position is past these records, so
                # go back for them (a revoked partition's next owner starts from its commit).
                if fetched and tp in self.assignment():
                    await self.seek(tp, fetched[0].offset)
                continue
            read = self._read_offset.get(tp)
            if read is not None and fetched and fetched[0].offset < read:
                fetched = [record for record in fetched if record.offset >= read]  # fetched twice
            if not fetched:
                continue
            last = fetched[-1].offset
            self._read_offset[tp] = last
            monitor = self.app.monitor
            monitor.track_tp_end_offset(tp, self.highwater(tp))
            on_records_in = getattr(monitor, "on_records_in", None)
            if on_records_in is not None:
                on_records_in(tp, len(fetched), last)
            by_topic.setdefault(tp.topic, []).append(Fetched(tp, fetched, generation_id))
        for topic, batches in by_topic.items():
            await handlers[topic](batches)

    def _delivery_cannot_block(self, tp) -> bool:
        """True when the conductor can hand this partition's message over without waiting."""
        return self._flowing() and not self._queue_full(tp)

    def _flowing(self) -> bool:
        app = self.app
        if self.suspend_flow.is_set() or not app.flow_control.is_active():
            return False
        buffer = app.producer.buffer
        return buffer.size <= buffer.max_messages

    def _queue_full(self, tp) -> bool:
        return any(channel.queue.full() for channel in self.app.topics._tp_index.get(tp, ()))

    async def _wait_for_room(self, tp) -> None:
        """Waits while a stream's queue is full and nothing else would block the delivery.

        Behind a backlog the queues are full nearly all the time, and Faust's race per message
        would come back for every tick. Looking again every millisecond costs one timer per
        look, and the look ends at once when a rebalance suspends the flow.
        """
        while self._flowing() and self._queue_full(tp):
            await asyncio.sleep(ROOM_POLL)

    async def _drain_messages(self, fetcher) -> None:  # pragma: no cover (the worker's loop)
        # Faust 0.15.3's Consumer._drain_messages, with the direct hand-over added (marked).
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        cannot_block = self._delivery_cannot_block
        yield_every = 100
        num_since_yield = 0
        sleep = asyncio.sleep
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                ait = getmany(timeout=1.0)
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await sleep(0)
                            num_since_yield = 0
                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            if gap > 1 and r_offset and acks_enabled_for(message.topic):
                                await self._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None and self._n_acked >= commit_every:
                                self._n_acked = 0
                                await self.commit()
                            if not cannot_block(tp):  # added: wait for room, then no race needed
                                await self._wait_for_room(tp)
                            if cannot_block(tp):  # added
                                await callback(message)
                            else:
                                await self.wait_first(callback(message), self.suspend_flow.wait())
                            set_read_offset(tp, offset)
                        else:
                            self.log.dev("DROPPED MESSAGE ROFF %r: k=%r v=%r", offset, message.key, message.value)
                    unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)


def awaiting_reset(consumer: AIOKafkaConsumer | None, tp) -> bool:
    """True while ``tp`` is assigned to ``consumer`` with no position yet (an offset reset)."""
    subscription = getattr(getattr(getattr(consumer, "_fetcher", None), "_subscriptions", None), "subscription", None)
    assignment = getattr(subscription, "assignment", None)
    if assignment is None:
        return False
    state = assignment.state_value(TopicPartition(tp.topic, tp.partition))
    return state is not None and not state.has_valid_position


async def seek_to_committed(consumer: AIOKafkaConsumer, reset: str) -> Mapping[TopicPartition, int | None]:
    """Seeks every assigned partition to its committed offset; returns the committed offsets.

    aiokafka's ``seek_to_committed`` leaves a partition alone when its committed offset is 0 or
    there is none, so after a rebalance records already fetched from it were never fetched again.
    Those go back to 0, or, never committed, to where ``reset`` starts them ("earliest": the
    beginning; "latest" has no earlier position to go back to).
    """
    committed = await consumer.seek_to_committed()
    for tp, offset in committed.items():
        if offset == 0:
            consumer.seek(tp, 0)
    never = [tp for tp, offset in committed.items() if offset is None]
    if never and reset == "earliest":
        await consumer.seek_to_beginning(*never)
    return committed


class _ConsumerThread(aiokafka_driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport):
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = self.fetch_max_wait_ms  # read when its fetcher starts
        return consumer

    fetch_max_wait_ms = KAFKA_FETCH_MAX_WAIT_MS
    #: Incremental fetch sessions (:mod:`alphapanda.fetch_sessions`): Kafka and Redpanda keep them.
    fetch_sessions = True

    async def on_start(self) -> None:
        await super().on_start()
        if self.fetch_sessions:
            use_fetch_sessions(self._consumer)

    def verify_event_path(self, now: float, tp) -> None:
        # Faust's livelock detector reads each partition's position from the main thread, and
        # aiokafka asserts on the position of a partition awaiting an offset reset (our seek to
        # the beginning of partitions nobody committed, after a rebalance): the assertion crashed
        # the consumer, and with it the worker, in CI. Until the reset is done there is no
        # position to judge a stall by.
        if awaiting_reset(self._consumer, tp):
            return None
        return super().verify_event_path(now, tp)

    async def seek_to_committed(self) -> Mapping[TopicPartition, int | None]:
        return await self.call_thread(
            seek_to_committed, self._ensure_consumer(), self.app.conf.consumer_auto_offset_reset
        )


class _Consumer(Consumer):
    def _new_consumer_thread(self) -> aiokafka_driver.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _TrackingProducer(aiokafka_driver.Producer):
    """Faust's producer whose metadata keeps every topic it sends to or looks keys up in
    (:mod:`alphapanda.producer_metadata`)."""

    @property
    def _producer_type(self):
        return TrackingProducer

    def key_partition(self, topic: str, key: bytes) -> TP:
        return TP(topic, key_partition(self._ensure_producer(), topic, key))

    async def wait_for_topic(self, topic: str) -> None:
        await wait_for_topic(self._ensure_producer(), topic)


class _Producer(_TrackingProducer):
    def _settings_extra(self):
        # Idempotent on Kafka: a send retried after its partition's leader died (the ack lost
        # with it, the record already replicated) is written once, not twice. Measured on a
        # 3-node cluster: without it, killing the order flow's leader doubled a fill in the topic.
        return {**super()._settings_extra(), "enable_idempotence": True}


class Transport(aiokafka_driver.Transport):
    """Faust's transport; every topic Faust creates (changelogs, the assignor's leader topic)
    gets the app's topic policy (``TOPIC_MIN_INSYNC_REPLICAS``), and a replication factor the
    cluster cannot hold stops the worker with the setting named."""

    Consumer = _Consumer
    Producer = _Producer

    async def _create_topic(self, owner, client, topic, partitions, replication, **kwargs) -> None:
        from aiokafka.errors import InvalidReplicationFactorError

        from alphapanda.kafka_preflight import KafkaSetupError

        policy = getattr(self.app, "alphapanda_topic_policy", None)
        if policy is not None:
            kwargs["config"] = {**policy.common_config(), **(kwargs.get("config") or {})}
        try:
            await super()._create_topic(owner, client, topic, partitions, replication, **kwargs)
        except InvalidReplicationFactorError as exc:
            brokers = len(client.cluster.brokers())
            raise KafkaSetupError(
                f"TOPIC_REPLICATION_FACTOR={replication}: Kafka cannot create {topic} with "
                f"{replication} replicas on {brokers} live broker{'s' if brokers != 1 else ''} ({exc})"
            ) from None


class _TansuConsumerThread(_ConsumerThread):
    fetch_max_wait_ms = TANSU_FETCH_MAX_WAIT_MS
    fetch_sessions = False  # not what the fallback broker is for; full fetches as aiokafka sends them

    async def _highwaters(self, partitions) -> Mapping[TopicPartition, int]:
        # Table recovery reads each changelog up to these; Tansu's ListOffsets alone stops it
        # inside the last record batch (alphapanda/end_offsets.py).
        return await end_offsets(self._ensure_consumer(), partitions)


class _TansuConsumer(Consumer):
    def _new_consumer_thread(self) -> aiokafka_driver.AIOKafkaConsumerThread:
        return _TansuConsumerThread(self, loop=self.loop, beacon=self.beacon)


class TansuTransport(Transport):
    Consumer = _TansuConsumer
    # Tansu has no idempotent producer (InitProducerId).
    Producer = _TrackingProducer
