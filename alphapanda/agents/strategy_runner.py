"""Stage 1: ticks -> strategies -> ``{broker}.signals.raw`` for every broker a strategy trades on.

The tick path keeps per-tick work in memory. Strategy state is advanced in the runner's working
copy and *checkpointed* to the ``strategy-state`` table per partition, about once a second
(:data:`CHECKPOINT_INTERVAL`), instead of once per tick or batch: on the embedded broker every
changelog record is its own produce request, and a write per changed instrument per batch was
what capped this stage (DESIGN.md, "The local Kafka broker").

Why that loses nothing: a tick's offset is committed only after the checkpoint that covers it.
Each processed tick message keeps one extra Faust reference until its partition's state is
written; Faust commits an offset only when every reference is released, and flushes the
producer (the changelog) before it commits. After a crash the worker restarts from the last
checkpoint and the uncommitted ticks are delivered again; strategies skip ticks at or before
their last event time and signal ids are derived from tick ids, so the replay gives exactly the
state and signals of an uninterrupted run. Signals are sent and acknowledged per batch, before
their ticks can be checkpointed, so a signal is never lost to a crash.

A partition is checkpointed only in the consumer generation its ticks were fetched in. Once a
rebalance starts, nothing is written: what is held is dropped (its ticks are uncommitted and go
to whichever worker owns the partition next), and after a revocation the working state is
dropped too, since another worker may advance those instruments meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import replace

from faust.streams import _current_event

from alphapanda import brokers, metrics, tracing
from alphapanda.agents.batches import take_ready
from alphapanda.agents.common import active_brokers, event_path
from alphapanda.app import app, settings
from alphapanda.execution.registry import live_brokers
from alphapanda.models import EventType
from alphapanda.models.wire import PoisonMessage, decode_event
from alphapanda.reliability import SourceMessage
from alphapanda.strategies.book import StrategyBook
from alphapanda.strategies.config import StrategyConfigError, load_strategies
from alphapanda.strategy_runner import StrategyRunner
from alphapanda.tables import strategy_state
from alphapanda.topics import MARKET_TICKS

__all__ = ["strategy_runner", "runner", "checkpoints", "Checkpoints"]

log = logging.getLogger(__name__)

ticks_topic = app.topic(MARKET_TICKS, key_serializer="raw", value_serializer="raw")

# Validated at import, so a bad strategy file stops the worker at startup naming file and field.
try:
    _configs = load_strategies(settings.strategies_dir, known_brokers=brokers.KNOWN_BROKERS)
except StrategyConfigError as exc:
    raise SystemExit(f"alphapanda: invalid strategy files in {settings.strategies_dir}: {exc}") from None
runner = StrategyRunner(
    book=StrategyBook.from_configs(_configs),
    active_brokers=active_brokers,
    live_brokers=live_brokers(),
    states=strategy_state,
)
path = event_path("strategy_runner", {MARKET_TICKS: EventType.MARKET_TICK}, dedupe=False, broker_scoped=False)
_latency = metrics.HANDLER_LATENCY.labels("strategy_runner")
_processed = metrics.EVENTS_PROCESSED.labels("strategy_runner", "market")
_last = metrics.LAST_EVENT_TIME.labels("strategy_runner", "market")

#: Ticks per batch at most (a batch is what is ready, see alphapanda.agents.batches).
BATCH_SIZE = 2000
#: Seconds a partition's ticks may wait for their state checkpoint (and their offset commit).
CHECKPOINT_INTERVAL = 1.0
#: A partition holding this many uncommitted ticks is checkpointed at once (bounds memory).
CHECKPOINT_MAX_HELD = 5000
#: How often the timer looks for due partitions (idle streams, rebalances).
CHECKPOINT_POLL = 0.1


@contextmanager
def as_current_event(event):
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


class Checkpoints:
    """Per partition of ``market.ticks``: which instruments changed, and the ticks held back.

    Responsibilities:
    - hold each processed tick message (one extra Faust reference) until its partition is
      checkpointed, so its offset cannot be committed before the state that includes it;
    - checkpoint a partition: store each changed instrument's state once, under an event of
      that partition (the table takes the changelog partition from the current event), then
      release the held messages;
    - decide when: after :data:`CHECKPOINT_INTERVAL` seconds or :data:`CHECKPOINT_MAX_HELD`
      messages, one partition at a time so the changelog writes stay spread out; everything at
      shutdown;
    - never write for a partition this worker may no longer own: during a rebalance, or for
      ticks fetched in an earlier consumer generation, the partition is dropped instead.
    """

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self._changed: dict[int, dict[str, object]] = defaultdict(dict)  # partition -> key -> event
        self._held: dict[int, list] = defaultdict(list)  # partition -> messages
        self._since: dict[int, float] = {}  # partition -> monotonic time of its oldest held tick
        self._generation: dict[int, int | None] = {}  # partition -> consumer generation of its ticks

    def hold(self, event) -> None:
        message = event.message
        partition = message.partition
        generation = message.generation_id
        if partition in self._generation and self._generation[partition] != generation:
            self.discard(partition)  # held from before a rebalance: not ours to write any more
        message.incref()
        self._held[partition].append(message)
        self._since.setdefault(partition, time.monotonic())
        self._generation[partition] = generation

    def changed(self, key: str, event) -> None:
        self._changed[event.message.partition][key] = event

    @property
    def held(self) -> int:
        return sum(len(messages) for messages in self._held.values())

    def due(self) -> int | None:
        """The partition most overdue for a checkpoint, or None."""
        now = time.monotonic()
        oldest = None
        for partition, since in self._since.items():
            if now - since >= CHECKPOINT_INTERVAL or len(self._held[partition]) >= CHECKPOINT_MAX_HELD:
                if oldest is None or since < self._since[oldest]:
                    oldest = partition
        return oldest

    def checkpoint(self, partition: int) -> None:
        if app.rebalancing or self._generation.get(partition) != app.consumer_generation_id:
            self.discard(partition)
            return
        for key, event in self._changed.pop(partition, {}).items():
            with as_current_event(event):
                strategy_state[key] = runner.snapshot(key)
        consumer = app.consumer
        for message in self._held.pop(partition, ()):
            if message.ack(consumer):
                app.sensors.on_message_out(message.tp, message.offset, message)
        self._since.pop(partition, None)
        self._generation.pop(partition, None)

    def checkpoint_all(self) -> None:
        for partition in list(self._since):
            self.checkpoint(partition)

    def discard(self, partition: int) -> None:
        """Drop a partition's held ticks and the working state they built, without storing it.

        The ticks stay uncommitted, so the partition's owner gets them again and rebuilds the
        same state from the last checkpoint.
        """
        runner.forget(self._changed.pop(partition, {}))
        self._held.pop(partition, None)
        self._since.pop(partition, None)
        self._generation.pop(partition, None)

    def drop(self) -> None:
        """Drop every partition (see :meth:`discard`)."""
        for partition in list(self._since):
            self.discard(partition)


checkpoints = Checkpoints()


@app.agent(ticks_topic, name="strategy_runner")
async def strategy_runner(stream) -> None:
    try:
        async for events in take_ready(stream, BATCH_SIZE):
            async with checkpoints.lock:
                await _process(events)
                partition = checkpoints.due()
                if partition is not None:
                    checkpoints.checkpoint(partition)
    finally:
        try:
            checkpoints.checkpoint_all()
        except Exception as exc:  # shutting down: the uncommitted ticks are simply redelivered
            log.warning("final strategy checkpoint not written: %r", exc)


async def _process(events) -> None:
    started = time.perf_counter()
    outputs = []
    traced = tracing.enabled
    try:
        for event in events:
            checkpoints.hold(event)
            try:
                # The path's own decode (full validation), minus a per-tick SourceMessage.
                tick = decode_event(event.message.value, EventType.MARKET_TICK)
            except PoisonMessage as exc:
                await path.dead_letter(SourceMessage.from_event(event), None, exc, attempts=1)
                continue
            began = time.time_ns() if traced else None
            signals = runner.on_tick(tick)
            if signals:
                if began is not None:  # this tick starts a tick-to-fill chain: its root span
                    signals = _traced(signals, tick, event.message, began)
                outputs.extend(signals)
            key = str(tick.data.instrument_token)
            if runner.working_state(key) is not None:  # an instrument some strategy trades
                checkpoints.changed(key, event)
        if outputs:
            await path.emit(outputs)
    except BaseException:
        # The working state ran ahead of what was sent: start again from the last checkpoint.
        checkpoints.drop()
        runner.forget()
        raise
    _latency.observe(time.perf_counter() - started)
    _processed.inc(len(events))
    _last.set(time.time())


def _traced(signals: list, tick, message, began: int) -> list:
    headers = tracing.chain_start("strategy_runner", MARKET_TICKS, tick, partition=message.partition,
                                  offset=message.offset, start_time=began)
    return [replace(signal, headers=headers) for signal in signals] if headers else signals


@app.timer(CHECKPOINT_POLL)
async def strategy_checkpoints() -> None:
    """Checkpoints partitions whose stream went quiet (a busy stream checkpoints between batches)."""
    if not checkpoints.held or app.rebalancing:
        return
    async with checkpoints.lock:
        partition = checkpoints.due()
        if partition is not None:
            checkpoints.checkpoint(partition)


@app.on_partitions_revoked.connect
async def _forget_strategy_state(app, revoked, **kwargs) -> None:
    # Another worker may own these instruments next and advance their state: reload from the
    # table after the rebalance. Anything still held was not checkpointed and is redelivered.
    async with checkpoints.lock:
        checkpoints.drop()
        runner.forget()
