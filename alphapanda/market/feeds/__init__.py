"""Market feeds behind one interface: simulated, replayed tape, Zerodha KiteTicker.

One module per feed (``simulated``, ``replay``, ``kite``), what they share (``base``), the runner
(``runner``) and building the configured feed from the settings (``config``).

A feed publishes validated ``market_tick`` envelopes to ``market.ticks`` through a
:class:`TickSink` (in production the batching :class:`~alphapanda.market.publisher.TickPublisher`),
keyed by instrument token so order per instrument is preserved, and keeps its :class:`FeedState`
current for health. :class:`FeedRunner` runs one feed at a time and owns the state transitions
(running on start; not running on stop, on the end of a tape and when the feed gives up).

- :class:`SimulatedFeed`: a seeded :class:`SimulatedMarket` on an event-time schedule: tick ``i``
  is stamped ``start + i / rate``. ``start`` is the wall clock when the feed starts (shown in the
  state), so the same seed, start and rate give the same ticks.
- :class:`ReplayFeed`: a JSONL tape; invalid lines become dead letters on ``market.ticks.dlq``.
- :class:`KiteFeed`: Zerodha's live ticker; order-update text frames go to
  ``zerodha.orders.updates`` as ``venue_order_update`` events for the execution lane.
"""

from alphapanda.market.feeds.base import FeedConfigError, FeedState, MarketFeed, TickSink, worker_identity
from alphapanda.market.feeds.config import build_feed, kite_tokens, simulated_instruments
from alphapanda.market.feeds.kite import KiteFeed
from alphapanda.market.feeds.replay import ReplayFeed, ReplayProgress, tape_event_id
from alphapanda.market.feeds.runner import FeedRunner
from alphapanda.market.feeds.simulated import DEPTH_MAX_RATE, SimulatedFeed

__all__ = [
    "FeedConfigError",
    "FeedState",
    "TickSink",
    "MarketFeed",
    "FeedRunner",
    "SimulatedFeed",
    "ReplayFeed",
    "ReplayProgress",
    "KiteFeed",
    "build_feed",
    "simulated_instruments",
    "kite_tokens",
    "tape_event_id",
    "worker_identity",
    "DEPTH_MAX_RATE",
]
