"""Every worker's view of the latest prices, fed by the worker's tick tail.

Ticks are partitioned by instrument across workers, but paper fills and unrealized PnL need the
latest price of any instrument on whichever worker owns the account. The group-less tick tail
(:mod:`alphapanda.agents.tick_tail`) reads every partition from (nearly) the end; the view keeps
only the newest tick per instrument in memory and writes nothing: no changelog cost on the tick
path.
"""

from __future__ import annotations

from alphapanda.agents.tick_tail import tick_tail
from alphapanda.market.view import MarketView
from alphapanda.models import EventType
from alphapanda.models.wire import PoisonMessage, decode_event

__all__ = ["market_view", "read_ticks", "WARM_UP_MESSAGES"]

market_view = MarketView()

# How far back each partition is read at start, so prices are known before the next tick.
WARM_UP_MESSAGES = 200


def read_ticks(records) -> None:
    for record in records:
        try:
            market_view.update(decode_event(record.value, EventType.MARKET_TICK).data)
        except PoisonMessage:
            pass  # the strategy runner dead-letters it


tick_tail.add_reader("market view", read_ticks, history=WARM_UP_MESSAGES)
