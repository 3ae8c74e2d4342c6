"""Trading symbols beside instrument tokens in the answers (``tradingsymbol``).

From the instrument master (``ZERODHA__INSTRUMENTS_PATH``, else the bundled sample), then from
the last tick of the instrument (ticks may carry ``tradingsymbol``); None when neither knows it.
"""

from __future__ import annotations

import logging
from functools import cache

from alphapanda.agents.market_view import market_view
from alphapanda.app import settings
from alphapanda.market.instruments import InstrumentMasterError, load_instrument_master

__all__ = ["symbol_of", "with_symbols"]

log = logging.getLogger(__name__)


@cache
def _master() -> dict[int, str]:
    try:
        master = load_instrument_master(settings.zerodha.instruments_path)
    except (InstrumentMasterError, OSError) as exc:
        log.warning("no trading symbols from the instrument master: %s", exc)
        return {}
    return {instrument.instrument_token: instrument.tradingsymbol for instrument in master}


def symbol_of(token: int) -> str | None:
    symbol = _master().get(token)
    if symbol is None:
        tick = market_view.last_tick(token)
        symbol = getattr(tick, "tradingsymbol", None) if tick is not None else None
    return symbol


def with_symbols(rows: list[dict]) -> list[dict]:
    """``rows`` (positions, orders: dicts with ``instrument_token``) each with its ``tradingsymbol``."""
    return [{**row, "tradingsymbol": symbol_of(row["instrument_token"])} for row in rows]
