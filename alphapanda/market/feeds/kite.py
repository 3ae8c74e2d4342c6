"""The live feed: Zerodha's KiteTicker, ticks to ``market.ticks`` and order updates to the execution lane."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from alphapanda.market.feeds.base import FeedState, Stoppable, TickSink, content_id
from alphapanda.market.hours import MarketHours
from alphapanda.market.instruments import InstrumentMaster
from alphapanda.market.publisher import tick_envelope
from alphapanda.models import Envelope, EventType, MarketTick, VenueOrderUpdate
from alphapanda.models.wire import encode_event
from alphapanda.topics import account_of

__all__ = ["KiteFeed"]

log = logging.getLogger(__name__)


class KiteFeed(Stoppable):
    """Zerodha's live ticker: ticks to ``market.ticks``, order updates to the execution lane.

    Responsibilities: stream ``tokens`` in ``mode`` with :class:`KiteTicker` (reconnecting with
    backoff and resubscribing once per connection); give ticks their ``tradingsymbol`` from the
    instrument master; with ``hours``, publish ticks only while the market is open. It stays
    connected outside hours, so order updates (e.g. the cancellations after the close) still
    arrive; ticks outside hours are counted in ``held_back``. Order-update text frames are
    published as ``venue_order_update`` events to ``order_updates_topic`` keyed by the zerodha
    account (none when zerodha is not an active broker: they are then logged and counted only).
    Credentials are never logged; :meth:`run` raises when the ticker gives up.
    """

    source = "kite_feed"

    def __init__(
        self,
        api_key: str,
        access_token: str,
        *,
        tokens: Sequence[int],
        mode: str = "quote",
        root: str = "wss://ws.kite.trade",
        instruments: InstrumentMaster | None = None,
        hours: MarketHours | None = None,
        order_updates_topic: str | None = None,
        ticker_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if not tokens:
            raise ValueError("the kite feed needs at least one instrument token")
        self._api_key = api_key
        self._access_token = access_token
        self.tokens = list(tokens)
        self.mode = mode
        self.root = root
        self.instruments = instruments
        self.hours = hours
        self.order_updates_topic = order_updates_topic
        self.ticker_options = dict(ticker_options or {})
        self.ticker = None
        self._ignored_updates = 0

    def __repr__(self) -> str:  # never the credentials
        return f"KiteFeed(tokens={len(self.tokens)}, mode={self.mode!r}, root={self.root!r})"

    async def run(self, sink: TickSink, state: FeedState) -> None:
        from alphapanda.market.kite.ticker import KiteTicker

        if self.stopping:
            return

        async def on_ticks(ticks: list[MarketTick]) -> None:
            if self.hours is not None:
                is_open = self.hours.is_open
                tradable = [t for t in ticks if is_open(t.timestamp)]
                state.held_back += len(ticks) - len(tradable)
                if ticks:
                    state.market_open = bool(tradable)
                ticks = tradable
            if ticks:
                await sink.publish([tick_envelope(t, source=self.source) for t in ticks])
                state.record_ticks(len(ticks), ticks[-1].timestamp)

        async def on_order_update(data: dict) -> None:
            await self._publish_order_update(sink, state, data)

        def on_state_change(connection: str) -> None:
            state.connection = connection

        self.ticker = KiteTicker(
            self._api_key, self._access_token, tokens=self.tokens, mode=self.mode,
            root=self.root, instruments=self.instruments, on_ticks=on_ticks,
            on_order_update=on_order_update, on_state_change=on_state_change,
            **self.ticker_options,
        )
        if self.stopping:  # stop() came while we were building the ticker
            return
        await self.ticker.run()

    async def stop(self) -> None:
        await super().stop()
        if self.ticker is not None:
            await self.ticker.stop()

    async def _publish_order_update(self, sink: TickSink, state: FeedState, data: dict) -> None:
        if self.order_updates_topic is None:
            self._ignored_updates += 1
            if self._ignored_updates == 1:
                log.warning("Kite order updates are not published: zerodha is not an active broker")
            return
        # Identical frames get identical ids, so a resent update is recognisably the same event.
        event_id = content_id(b"kite-order", json.dumps(data, sort_keys=True, default=str))
        event = Envelope[VenueOrderUpdate](
            id=event_id, type=EventType.VENUE_ORDER_UPDATE, correlation_id=event_id,
            source=self.source, broker="zerodha",
            data=VenueOrderUpdate(via="websocket", payload=data),
        )
        future = await sink.publish_raw(
            account_of("zerodha").encode(), encode_event(event), topic=self.order_updates_topic
        )
        await future
        state.order_updates += 1
