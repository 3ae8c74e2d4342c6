"""Every Faust table of the pipeline, in one place, with who writes it and how it is keyed.

Keys decide partitions and partitions decide tables (DESIGN.md): order-flow tables are keyed by
broker/account and written only while handling that account's messages; strategy state is keyed
by instrument token and co-partitioned with ``market.ticks``.
"""

from __future__ import annotations

import heapq
from datetime import timedelta

import faust

from alphapanda.app import app, settings
from alphapanda.stores import TABLE_OPTIONS

__all__ = ["strategy_state", "risk_state", "orders", "accounts", "positions", "fill_ids", "seen_events"]

# Keys are plain strings on the wire (the same bytes as the message keys), values JSON objects.
_SCHEMA = faust.Schema(key_type=str, key_serializer="raw", value_serializer="json")


def _common() -> dict:
    """What every table is created with; the RocksDB options are a fresh dict each time, because
    Faust's store pops keys from the mapping it is given."""
    options = dict(TABLE_OPTIONS) if settings.store_url.startswith("rocksdb") else {}
    return dict(partitions=settings.topic_partitions, schema=_SCHEMA, options=options)

#: instrument token -> {strategy_id: state}; written by the strategy runner once per batch, each
#: entry under an event of its own partition (see agents.strategy_runner.as_current_event).
strategy_state = app.Table("strategy-state", default=None, help="Strategy windows per instrument", **_common())

#: broker -> AccountRisk dict; written by the risk manager.
risk_state = app.Table("risk-state", default=None, help="Risk limits, state and exposure per broker", **_common())

#: "broker:order_id" -> order record with lifecycle state; written by the execution lanes.
orders = app.Table("orders", default=None, help="Orders and their lifecycle per broker", **_common())

#: account -> account book (cash, fill count, daily realized PnL, keys of its positions);
#: written by the portfolio agent (layout in alphapanda.portfolio.records).
accounts = app.Table("accounts", default=None, help="Portfolio accounts per broker", **_common())

#: "account|strategy_id|instrument_token" -> Position dict; written by the portfolio agent while
#: it handles that account's fill, so every position lives on its account's partition.
positions = app.Table("positions", default=None, help="Positions per broker, strategy and instrument", **_common())

#: "account|fill_id" -> event time (epoch seconds); each fill id is applied once, for all time.
fill_ids = app.Table("fill-ids", default=None, help="Fill ids applied per account", **_common())

#: "stage:broker:event_id" -> event time; lets each stage skip redelivered events.
#: Bounded: kept in tumbling windows of event time, and windows past SEEN_EXPIRES (by the wall
#: clock) are dropped by Faust's table cleanup. A repeat is looked for in the event's window and
#: the one before it, so an id is remembered at least SEEN_WINDOW: Kafka redelivers only what was
#: not committed (seconds) and a retried produce repeats within seconds. Older repeats (a topic
#: replayed by hand) are recognised by the records themselves (reliability.idempotency, the
#: orders and fill-ids tables), whatever their age. Each mark also costs memory until its window
#: expires (the key in Faust's expiry index), so the horizon is kept short.
SEEN_WINDOW = timedelta(minutes=5)
SEEN_EXPIRES = timedelta(minutes=15)


def _not_seen() -> None:
    return None  # a windowed lookup of a missing key answers this instead of raising


class _WindowKeys:
    """The keys of one window in the expiry index, stored as their names only.

    Faust keeps each key as ``(name, (start, end))``: every mark held its own pair of tuples and
    floats besides its name, about 300 bytes in all, for as long as its window lived. A window
    has one range, so it is kept once here, and the keys are made again when Faust iterates the
    set to delete them. The set-like part Faust uses: ``add``, ``discard``, ``len``, ``iter``.
    """

    __slots__ = ("range", "names")

    def __init__(self, window_range: tuple[float, float]) -> None:
        self.range = window_range
        self.names: set = set()

    def add(self, key) -> None:
        self.names.add(key[0])

    def discard(self, key) -> None:
        if key[1] == self.range:
            self.names.discard(key[0])

    def __contains__(self, key) -> bool:
        return key[1] == self.range and key[0] in self.names

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self):
        window_range = self.range
        return ((name, window_range) for name in self.names)


class _ExpiringTable(app.conf.Table):
    """A windowed table whose expiry index costs a window's range once, not once per key.

    Faust pushes the window's end onto a per-partition heap for every key written, so the heap
    grew by one float per seen-event mark until the window expired; here it is pushed for a
    window's first key only, and the window's keys are kept by name (:class:`_WindowKeys`).
    Exactly the same keys expire (they are found by window, not by heap entry).
    """

    def _maybe_set_key_ttl(self, key, partition: int) -> None:
        if not self._should_expire_keys():
            return
        _, window_range = key
        range_end = window_range[1]
        window_keys = self._partition_timestamp_keys.get((partition, range_end))
        if window_keys is None:
            window_keys = self._partition_timestamp_keys[(partition, range_end)] = _WindowKeys(window_range)
            heapq.heappush(self._partition_timestamps[partition], range_end)
        if range_end > self._partition_latest_timestamp[partition]:
            self._partition_latest_timestamp[partition] = range_end
        window_keys.add(key)


seen_events = app.tables.add(_ExpiringTable(
    app, name="seen-events", default=_not_seen, beacon=app.tables.beacon,
    help="Event ids handled per stage", **_common(),
)).tumbling(SEEN_WINDOW, expires=SEEN_EXPIRES, key_index=False)
