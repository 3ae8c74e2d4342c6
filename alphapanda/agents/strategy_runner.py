"""Stage 1: ticks -> strategies -> ``{broker}.signals.raw`` for every broker a strategy trades on.

``market.ticks`` is a batch topic (:mod:`alphapanda.batch_topics`): the app's consumer hands
this stage every fetch of ticks at once, without a Faust event per tick, and the stage tells it
how far each partition may be committed. The tick path keeps per-tick work in memory. Strategy
state is advanced in the runner's working copy and *checkpointed* to the ``strategy-state``
table per partition, once per commit interval (:data:`CHECKPOINT_INTERVAL`), instead of once per tick
or batch: every changelog record is a record to produce, and a write per changed instrument per
batch was what capped this stage (DESIGN.md, "The local Kafka broker").

Why that loses nothing: a partition's ticks are acknowledged to the consumer (and so become
committable) only by the checkpoint that covers them, and Faust flushes the producer (the
changelog) before it commits. After a crash the worker restarts from the last checkpoint and
the uncommitted ticks are delivered again; strategies skip ticks at or before their last event
time and signal ids are derived from tick ids, so the replay gives exactly the state and signals
of an uninterrupted run. Signals are handed to the producer per fetch without waiting for their
acknowledgements (a round trip per fetch would hold up the consumer, which hands every stage its
records); a partition is checkpointed only once every signal sent for its ticks is
acknowledged, so a signal is never lost to a crash. A failure (a send that failed past its
retries) drops the working state and rewinds every partition to its first tick not yet
checkpointed, so those ticks are handled again, after a pause.

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
from contextlib import contextmanager
from dataclasses import dataclass, replace

from faust.streams import _current_event
from faust.types import TP

from alphapanda import brokers, metrics, tracing
from alphapanda.agents.common import active_brokers, event_path
from alphapanda.app import app, settings
from alphapanda.batch_topics import Fetched, ack_through, add_batch_topic, rewind
from alphapanda.execution.registry import live_brokers
from alphapanda.models import EventType
from alphapanda.models.wire import PoisonMessage, decode_event
from alphapanda.reliability import SourceMessage
from alphapanda.strategies.book import StrategyBook
from alphapanda.strategies.config import StrategyConfigError, load_strategies
from alphapanda.strategy_runner import StrategyRunner
from alphapanda.tables import strategy_state
from alphapanda.topics import MARKET_TICKS

__all__ = ["handle_ticks", "runner", "checkpoints", "Checkpoints"]

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

#: Seconds a partition's ticks may wait for their state checkpoint. Faust commits acknowledged
#: offsets once per ``broker_commit_interval`` (2.8 s by default), so checkpointing more often
#: than that commits nothing sooner and only writes more: a record per changed instrument, and
#: a changelog record to produce and confirm for each.
CHECKPOINT_INTERVAL = app.conf.broker_commit_interval
#: A partition holding this many uncommitted ticks is checkpointed at once (bounds what a
#: crash makes the worker handle again).
CHECKPOINT_MAX_HELD = 5000
#: How often the timer looks for due partitions (idle streams, rebalances).
CHECKPOINT_POLL = 0.1
#: Seconds to wait after a failure before the ticks are fetched again.
RETRY_PAUSE = 1.0
#: Seconds the final checkpoint waits for signals in flight when the worker stops.
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class _PartitionMessage:
    topic: str
    partition: int


@dataclass(frozen=True)
class PartitionEvent:
    """What a table write needs of the current event: the partition it belongs to.

    The table writes the changelog record (and its local store) to the current event's
    partition, which is how Faust keeps a table co-partitioned with the stream that updates it.
    """

    message: _PartitionMessage

    @classmethod
    def of(cls, partition: int) -> "PartitionEvent":
        return cls(_PartitionMessage(MARKET_TICKS, partition))


@contextmanager
def as_current_event(event):
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


class Checkpoints:
    """Per partition of ``market.ticks``: which instruments changed, and which ticks are not yet covered.

    Responsibilities:
    - know, per partition, the first tick not yet checkpointed and the offset after the last
      one handled, so a checkpoint acknowledges exactly the ticks its state includes and a
      failure knows where to fetch again;
    - keep the acknowledgements of the signals its ticks caused: a partition waits for them
      before it is checkpointed, and a failed one fails the checkpoint;
    - checkpoint a partition: store each changed instrument's state once, under an event of
      that partition, then let the consumer commit up to the last handled tick;
    - decide when: after :data:`CHECKPOINT_INTERVAL` seconds or :data:`CHECKPOINT_MAX_HELD`
      ticks, one partition at a time so the changelog writes stay spread out; everything at
      shutdown;
    - never write for a partition this worker may no longer own: during a rebalance, or for
      ticks fetched in an earlier consumer generation, the partition is dropped instead.
    """

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self._changed: dict[int, dict[str, object]] = {}  # partition -> instrument key -> its working state
        self._first: dict[int, int] = {}  # partition -> offset of its first tick not checkpointed
        self._next: dict[int, int] = {}  # partition -> offset after its last handled tick
        self._count: dict[int, int] = {}  # partition -> ticks held
        self._since: dict[int, float] = {}  # partition -> monotonic time of its oldest held tick
        self._generation: dict[int, int] = {}  # partition -> consumer generation of its ticks
        self._acks: dict[int, list] = {}  # partition -> acknowledgements of signals its ticks caused

    def hold(self, fetched: Fetched) -> dict[str, object]:
        """Take a fetch's ticks of one partition; returns where the partition's changed
        instruments are noted (the runner's ``dirty``)."""
        partition = fetched.tp.partition
        if partition in self._generation and self._generation[partition] != fetched.generation_id:
            self.discard(partition)  # held from before a rebalance: not ours to write any more
        records = fetched.records
        self._first.setdefault(partition, records[0].offset)
        self._next[partition] = records[-1].offset + 1
        self._count[partition] = self._count.get(partition, 0) + len(records)
        self._since.setdefault(partition, time.monotonic())
        self._generation[partition] = fetched.generation_id
        return self._changed.setdefault(partition, {})

    @property
    def held(self) -> int:
        return sum(self._count.values())

    def sent(self, partitions, acks: list) -> None:
        """Signals caused by ticks of ``partitions`` went to the producer; ``acks`` are theirs."""
        for partition in partitions:
            self._acks.setdefault(partition, []).extend(acks)

    def _acknowledged(self, partition: int) -> bool:
        """True once every signal of the partition's ticks is acknowledged; raises a failed send's error."""
        acks = self._acks.get(partition)
        if not acks:
            return True
        if not all(ack.done() for ack in acks):
            return False
        for ack in acks:
            ack.result()
        return True

    def unfinished(self) -> dict[int, int]:
        """Partition -> the offset of its first tick not checkpointed."""
        return dict(self._first)

    def due(self) -> int | None:
        """The partition most overdue for a checkpoint, or None."""
        now = time.monotonic()
        oldest = None
        for partition, since in self._since.items():
            if now - since >= CHECKPOINT_INTERVAL or self._count[partition] >= CHECKPOINT_MAX_HELD:
                if oldest is None or since < self._since[oldest]:
                    oldest = partition
        return oldest

    def checkpoint_due(self) -> None:
        """Checkpoint the most overdue partition, if its signals are acknowledged."""
        partition = self.due()
        if partition is not None:
            self.checkpoint(partition)

    def checkpoint(self, partition: int) -> bool:
        """Store the partition's state and release its ticks; False while its signals are in flight."""
        if app.rebalancing or self._generation.get(partition) != app.consumer_generation_id:
            self.discard(partition)
            return True
        if not self._acknowledged(partition):
            return False
        keys = self._changed.pop(partition, ())
        if keys:
            with as_current_event(PartitionEvent.of(partition)):
                for key in keys:
                    strategy_state[key] = runner.snapshot(key)
        ack_through(app, TP(MARKET_TICKS, partition), self._next[partition])
        self._forget(partition)
        return True

    async def checkpoint_all(self) -> None:
        """Every partition, once the signals in flight are acknowledged (the worker is stopping)."""
        pending = [ack for acks in self._acks.values() for ack in acks]
        if pending:
            await asyncio.gather(*pending)
        for partition in list(self._since):
            self.checkpoint(partition)

    def discard(self, partition: int) -> None:
        """Drop a partition's held ticks and the working state they built, without storing it.

        The ticks stay uncommitted, so the partition's owner gets them again and rebuilds the
        same state from the last checkpoint.
        """
        runner.forget(self._changed.get(partition, ()))
        self._forget(partition)

    def drop(self) -> None:
        """Drop every partition (see :meth:`discard`)."""
        for partition in list(self._since):
            self.discard(partition)

    def _forget(self, partition: int) -> None:
        for books in (self._changed, self._first, self._next, self._count, self._since, self._generation, self._acks):
            books.pop(partition, None)


checkpoints = Checkpoints()


async def handle_ticks(batches: list[Fetched]) -> None:
    """Every partition's ticks of one fetch (the consumer awaits this before fetching on)."""
    async with checkpoints.lock:
        try:
            await _process(batches)
            checkpoints.checkpoint_due()
        except Exception as exc:
            await _start_over(exc)


async def _start_over(exc: Exception) -> None:
    """After a failure: from the last checkpoint, with every uncovered tick fetched again."""
    unfinished = checkpoints.unfinished()
    checkpoints.drop()
    runner.forget()
    log.error("strategy stage: handling ticks failed (%r); partitions %s are read again from their "
              "last checkpoint in %.0f s", exc, sorted(unfinished), RETRY_PAUSE, exc_info=exc)
    await asyncio.sleep(RETRY_PAUSE)
    if app.rebalancing:
        return  # the next owner starts from the committed offsets anyway
    for partition, offset in unfinished.items():
        tp = TP(MARKET_TICKS, partition)
        if tp in app.consumer.assignment():
            await rewind(app, tp, offset)


async def _process(batches: list[Fetched]) -> None:
    started = time.perf_counter()
    outputs = []
    traced = tracing.enabled
    count = 0
    try:
        for fetched in batches:
            changed = checkpoints.hold(fetched)
            count += len(fetched.records)
            for record in fetched.records:
                try:
                    tick = decode_event(record.value, EventType.MARKET_TICK)
                except PoisonMessage as exc:
                    await path.dead_letter(_source(record), None, exc, attempts=1)
                    continue
                began = time.time_ns() if traced else None
                signals = runner.on_tick(tick, changed)  # notes the instrument if a strategy trades it
                if signals:
                    if began is not None:  # this tick starts a tick-to-fill chain: its root span
                        signals = _traced(signals, tick, record, began)
                    outputs.extend(signals)
        if outputs:
            checkpoints.sent([fetched.tp.partition for fetched in batches], await path.enqueue(outputs))
    except asyncio.CancelledError:
        # Shutting down midway: the working state ran ahead of what was sent, and nothing
        # uncovered is committed, so the restart handles those ticks again.
        checkpoints.drop()
        runner.forget()
        raise
    _latency.observe(time.perf_counter() - started)
    _processed.inc(count)
    _last.set(time.time())


def _source(record) -> SourceMessage:
    return SourceMessage(record.topic, record.partition, record.offset, record.key, record.value,
                         tuple(record.headers) if record.headers else None)


def _traced(signals: list, tick, record, began: int) -> list:
    headers = tracing.chain_start("strategy_runner", MARKET_TICKS, tick, partition=record.partition,
                                  offset=record.offset, start_time=began)
    return [replace(signal, headers=headers) for signal in signals] if headers else signals


@app.timer(CHECKPOINT_POLL)
async def strategy_checkpoints() -> None:
    """Checkpoints partitions whose stream went quiet (a busy stream checkpoints between batches)."""
    if not checkpoints.held or app.rebalancing:
        return
    async with checkpoints.lock:
        try:
            checkpoints.checkpoint_due()
        except Exception as exc:  # a signal's send failed: its ticks are handled again
            await _start_over(exc)


async def _checkpoint_at_stop() -> None:
    try:
        async with checkpoints.lock:
            await asyncio.wait_for(checkpoints.checkpoint_all(), STOP_TIMEOUT)
    except Exception as exc:  # shutting down: the uncommitted ticks are simply redelivered
        log.warning("final strategy checkpoint not written: %r", exc)


add_batch_topic(app, ticks_topic, handle_ticks, on_stop=_checkpoint_at_stop)


@app.on_partitions_revoked.connect
async def _forget_strategy_state(app, revoked, **kwargs) -> None:
    # Another worker may own these instruments next and advance their state: reload from the
    # table after the rebalance. Anything still held was not checkpointed and is redelivered.
    async with checkpoints.lock:
        checkpoints.drop()
        runner.forget()
