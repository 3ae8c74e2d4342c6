"""Long-lived objects out of the cyclic garbage collector's way.

A worker holds ~100,000 objects that live as long as it does: modules, Faust's app and
tables, pydantic's validators, the strategies' state. CPython's full collection walks all of
them, and it ran every 5-8 s in the bench's paced phase, 38 ms each (median of ten, 47 ms the
longest: the loop stood still, and every record in flight waited for it, which was most of the
tick -> fill p99). :func:`settle` collects once and freezes what is left (``gc.freeze``): the
collector no longer walks those objects, and reference counting still frees each of them the
moment nothing uses it. What a later cycle among them leaves is kept, so this runs only when
the heap has just settled: once a rebalance's recovery has loaded the tables, before the streams
resume (``app.on_rebalance_complete``); and in the bench before each timed phase.
"""

from __future__ import annotations

import gc
import logging
import time

__all__ = ["settle", "settle_after_rebalances"]

log = logging.getLogger(__name__)


def settle() -> int:
    """Collect, then freeze the survivors; returns how many objects are frozen in all."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("heap settled: %d long-lived objects frozen (%.0f ms)", frozen, (time.perf_counter() - started) * 1000)
    return frozen


def settle_after_rebalances(app) -> None:
    """Settle the heap whenever ``app``'s recovery completes, before its streams resume."""

    async def on_rebalance_complete(sender, **kwargs) -> None:
        settle()

    app.on_rebalance_complete.connect(on_rebalance_complete)
