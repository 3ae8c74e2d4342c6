"""Every Faust table of the pipeline, in one place, with who writes it and how it is keyed.

Keys decide partitions and partitions decide tables (DESIGN.md): order-flow tables are keyed by
broker/account and written only while handling that account's messages; strategy state is keyed
by instrument token and co-partitioned with ``market.ticks``.
"""

from __future__ import annotations

import faust

from alphapanda.app import app, settings

__all__ = ["strategy_state", "risk_state", "orders", "accounts", "positions", "fill_ids", "seen_events"]

# Keys are plain strings on the wire (the same bytes as the message keys), values JSON objects.
_common = dict(
    partitions=settings.topic_partitions,
    schema=faust.Schema(key_type=str, key_serializer="raw", value_serializer="json"),
)

#: instrument token -> {strategy_id: state}; written by the strategy runner once per batch, each
#: entry under an event of its own partition (see agents.strategy_runner.as_current_event).
strategy_state = app.Table("strategy-state", default=None, help="Strategy windows per instrument", **_common)

#: broker -> AccountRisk dict; written by the risk manager.
risk_state = app.Table("risk-state", default=None, help="Risk limits, state and exposure per broker", **_common)

#: "broker:order_id" -> order record with lifecycle state; written by the execution lanes.
orders = app.Table("orders", default=None, help="Orders and their lifecycle per broker", **_common)

#: account -> account book (cash, fill count, daily realized PnL, keys of its positions);
#: written by the portfolio agent (layout in alphapanda.portfolio.records).
accounts = app.Table("accounts", default=None, help="Portfolio accounts per broker", **_common)

#: "account|strategy_id|instrument_token" -> Position dict; written by the portfolio agent while
#: it handles that account's fill, so every position lives on its account's partition.
positions = app.Table("positions", default=None, help="Positions per broker, strategy and instrument", **_common)

#: "account|fill_id" -> event time (epoch seconds); each fill id is applied once, for all time.
fill_ids = app.Table("fill-ids", default=None, help="Fill ids applied per account", **_common)

#: "stage:broker:event_id" -> event time; lets each stage skip redelivered events.
seen_events = app.Table("seen-events", default=None, help="Event ids handled per stage", **_common)
