"""Every worker's one group-less reader of all of ``market.ticks``.

Ticks are partitioned by instrument across workers, but two things in every worker need the
newest ticks of *every* instrument: the market view (marks for paper fills and unrealized PnL)
and the execution tick triggers (ticks that working paper orders wait for). One plain consumer
without a group reads every partition from a little before its end and hands each fetched batch
to both, so each tick is fetched once per worker rather than once per reader: on the embedded
broker every fetch of a partition costs in proportion to what the partition holds.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable, Iterable

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from mode import Service

from alphapanda.app import app
from alphapanda.fetch_sessions import use_fetch_sessions
from alphapanda.kafka_connection import KafkaConnection, as_connection
from alphapanda.kafka_io import assign_tail
from alphapanda.topics import MARKET_TICKS

__all__ = ["TickTail", "Reader", "tick_tail"]

log = logging.getLogger(__name__)

#: Seconds between the tail's fetches while ticks flow. The tail fetches on the stages' event
#: loop, and unpaced it fetched after every few ticks (~700 fetches/s at 1,000 ticks/s; a
#: fetch's socket write alone took ~14 % of that loop in py-spy). Paced, each fetch carries the
#: ticks of ~5 ms: the market view and the tick triggers see a tick at most that much later.
PACE_SECONDS = 0.005

#: Called with each fetched batch of records, in partition order; must not block.
Reader = Callable[[Iterable[ConsumerRecord]], None]


class TickTail(Service):
    """Reads every partition of ``market.ticks`` and hands the records to its readers.

    Each reader says how many messages per partition it wants re-read at start (its warm-up);
    the tail starts at the largest. A reader's exception is logged and never stops the others:
    these views are best effort, the pipeline proper reads ticks through the app's consumer
    (the strategy stage, :mod:`alphapanda.agents.strategy_runner`).
    """

    def __init__(self, bootstrap: "str | KafkaConnection", *, fetch_max_wait_ms: int = 20,
                 fetch_sessions: bool = True, pace_seconds: float = PACE_SECONDS, **kwargs) -> None:
        super().__init__(**kwargs)
        self.bootstrap = bootstrap
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.fetch_sessions = fetch_sessions
        self.pace_seconds = pace_seconds
        self._readers: list[tuple[str, Reader]] = []
        self._history = 0
        self._consumer: AIOKafkaConsumer | None = None

    def add_reader(self, name: str, reader: Reader, *, history: int) -> None:
        self._readers.append((name, reader))
        self._history = max(self._history, history)

    async def on_start(self) -> None:
        if not self._readers:
            return
        self._consumer = AIOKafkaConsumer(
            **as_connection(self.bootstrap).options(), group_id=None, enable_auto_commit=False,
            auto_offset_reset="latest", fetch_max_wait_ms=self.fetch_max_wait_ms,
        )
        await self._consumer.start()
        if self.fetch_sessions:
            use_fetch_sessions(self._consumer)  # it fetches on the stages' loop: name only what moved
        self.add_future(self._run())

    async def on_stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def _run(self) -> None:
        consumer = self._consumer
        while not self.should_stop and not await assign_tail(consumer, MARKET_TICKS, self._history):
            await self.sleep(1.0)
        while not self.should_stop:
            try:
                batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # best effort: never stop the worker
                log.warning("tick tail: fetch failed: %r", exc)
                await self.sleep(1.0)
                continue
            for records in batches.values():
                self.deliver(records)
            if batches:
                # At most one fetch per PACE_SECONDS while ticks flow (aiokafka sends the next
                # fetch once the last is taken): see PACE_SECONDS. A plain sleep: Service.sleep
                # makes a task and a timer per call, and stopping waits 5 ms at most anyway.
                await asyncio.sleep(self.pace_seconds)

    def deliver(self, records: list[ConsumerRecord]) -> None:
        for name, reader in self._readers:
            try:
                reader(records)
            except Exception:
                log.exception("tick tail: reader %s failed on a batch of %d ticks", name, len(records))


tick_tail = app.service(TickTail(app.alphapanda_connection, fetch_sessions=not app.alphapanda_tansu))
