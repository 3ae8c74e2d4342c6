"""Every worker's view of the latest prices: a group-less reader of all of ``market.ticks``.

Ticks are partitioned by instrument across workers, but paper fills and unrealized PnL need the
latest price of any instrument on whichever worker owns the account. A plain consumer without a
group reads every partition from (nearly) the end, keeps only the newest tick per instrument in
memory, and writes nothing: no changelog cost on the tick path.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer
from mode import Service

from alphapanda.app import app, settings
from alphapanda.kafka_io import assign_tail
from alphapanda.market.view import MarketView
from alphapanda.models import EventType
from alphapanda.models.wire import PoisonMessage, decode_event
from alphapanda.topics import MARKET_TICKS

__all__ = ["market_view", "MarketViewService"]

log = logging.getLogger(__name__)

market_view = MarketView()

# How far back each partition is read at start, so prices are known before the next tick.
WARM_UP_MESSAGES = 200


class MarketViewService(Service):
    def __init__(self, view: MarketView, bootstrap: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.view = view
        self.bootstrap = bootstrap
        self._consumer: AIOKafkaConsumer | None = None

    async def on_start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
            auto_offset_reset="latest", fetch_max_wait_ms=50,
        )
        await self._consumer.start()
        self.add_future(self._run())

    async def _assign(self) -> bool:
        return await assign_tail(self._consumer, MARKET_TICKS, WARM_UP_MESSAGES)

    async def _run(self) -> None:
        consumer = self._consumer
        while not self.should_stop and not await self._assign():
            await self.sleep(1.0)
        while not self.should_stop:
            try:
                batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the view is best effort; the pipeline must not stop
                log.warning("market view fetch failed: %r", exc)
                await self.sleep(1.0)
                continue
            for records in batches.values():
                for record in records:
                    try:
                        self.view.update(decode_event(record.value, EventType.MARKET_TICK).data)
                    except PoisonMessage:
                        pass  # the strategy runner dead-letters it

    async def on_stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()


market_view_service = app.service(MarketViewService(market_view, settings.kafka_bootstrap))
