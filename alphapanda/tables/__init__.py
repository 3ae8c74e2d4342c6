"""Every Faust table of the pipeline, in one place, with who writes it and how it is keyed.

Keys decide partitions and partitions decide tables (DESIGN.md): order-flow tables are keyed by
broker/account and written only while handling that account's messages; strategy state is keyed
by instrument token and co-partitioned with ``market.ticks``.
"""

from __future__ import annotations

from datetime import timedelta

import faust

from alphapanda.app import app, settings
from alphapanda.stores import TABLE_OPTIONS

__all__ = ["strategy_state", "risk_state", "orders", "accounts", "positions", "fill_ids", "seen_events"]

def _table_options() -> dict:
    # A fresh dict per table: Faust's store pops keys from the mapping it is given.
    return dict(TABLE_OPTIONS) if settings.store_url.startswith("rocksdb") else {}


# Keys are plain strings on the wire (the same bytes as the message keys), values JSON objects.
_common = dict(
    partitions=settings.topic_partitions,
    schema=faust.Schema(key_type=str, key_serializer="raw", value_serializer="json"),
)

#: instrument token -> {strategy_id: state}; written by the strategy runner once per batch, each
#: entry under an event of its own partition (see agents.strategy_runner.as_current_event).
strategy_state = app.Table("strategy-state", default=None, help="Strategy windows per instrument", **_common, options=_table_options())

#: broker -> AccountRisk dict; written by the risk manager.
risk_state = app.Table("risk-state", default=None, help="Risk limits, state and exposure per broker", **_common, options=_table_options())

#: "broker:order_id" -> order record with lifecycle state; written by the execution lanes.
orders = app.Table("orders", default=None, help="Orders and their lifecycle per broker", **_common, options=_table_options())

#: account -> account book (cash, fill count, daily realized PnL, keys of its positions);
#: written by the portfolio agent (layout in alphapanda.portfolio.records).
accounts = app.Table("accounts", default=None, help="Portfolio accounts per broker", **_common, options=_table_options())

#: "account|strategy_id|instrument_token" -> Position dict; written by the portfolio agent while
#: it handles that account's fill, so every position lives on its account's partition.
positions = app.Table("positions", default=None, help="Positions per broker, strategy and instrument", **_common, options=_table_options())

#: "account|fill_id" -> event time (epoch seconds); each fill id is applied once, for all time.
fill_ids = app.Table("fill-ids", default=None, help="Fill ids applied per account", **_common, options=_table_options())

#: "stage:broker:event_id" -> event time; lets each stage skip redelivered events.
#: Bounded: kept in tumbling windows of event time, and windows past SEEN_EXPIRES are dropped by
#: Faust's table cleanup. A repeat is looked for in the event's window and the one before it, so
#: an id is remembered at least SEEN_WINDOW; redeliveries after a crash are recognised by the
#: records themselves (reliability.idempotency), whatever their age.
SEEN_WINDOW = timedelta(hours=1)
SEEN_EXPIRES = timedelta(hours=3)
def _not_seen() -> None:
    return None  # a windowed lookup of a missing key answers this instead of raising


seen_events = app.Table(
    "seen-events", default=_not_seen, help="Event ids handled per stage", **_common, options=_table_options()
).tumbling(SEEN_WINDOW, expires=SEEN_EXPIRES, key_index=False)
