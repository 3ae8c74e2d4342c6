"""The paper venue: orders are matched locally against market ticks by a :class:`FillModel`.

No money moves and nothing is remembered: every answer is a pure function of the order and the
ticks given, so a redelivered order gives the same events and the same fill ids, and consumers
deduplicate on those ids.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from alphapanda.execution.paper.commissions import commission_model
from alphapanda.execution.paper.fill_model import FillModel
from alphapanda.execution.venue import (
    Failed,
    OrderRequest,
    Submitted,
    Venue,
    VenueEvent,
    WorkingOrder,
)
from alphapanda.models import MAX_PRICE, MAX_QUANTITY, MarketTick, OrderType

if TYPE_CHECKING:
    from alphapanda.settings import Settings

__all__ = [
    "PaperVenue",
    "paper_venue_from_settings",
    "INVALID_QUANTITY",
    "INVALID_LIMIT_PRICE",
    "INVALID_REFERENCE_PRICE",
    "INVALID_TIMESTAMP",
    "INSTRUMENT_MISMATCH",
    "BROKER_MISMATCH",
]

INVALID_QUANTITY = "INVALID_QUANTITY"
INVALID_LIMIT_PRICE = "INVALID_LIMIT_PRICE"
INVALID_REFERENCE_PRICE = "INVALID_REFERENCE_PRICE"
INVALID_TIMESTAMP = "INVALID_TIMESTAMP"
INSTRUMENT_MISMATCH = "INSTRUMENT_MISMATCH"
BROKER_MISMATCH = "BROKER_MISMATCH"


class PaperVenue(Venue):
    """Simulated execution for one broker name (``paper`` by default).

    Responsibilities: validate an order (a refusal is a :class:`Failed` with a stable code, never
    an exception or silence), accept it, and ask the fill model for fills on the latest tick at
    placement and on every later tick while the order works. The caller keeps the working order
    (its ``filled_quantity``) and stops calling once it is filled.

    The market at placement is the market *at the order's event time* (``created_at``): the
    ``market`` tick given when it is stamped exactly then (it carries size, so the order may fill
    partially), else the order's ``reference_price`` (the tick that caused the signal). A tick
    older than the signal yields to the reference price; a tick *newer* than the signal is not
    used at placement but reaches the order through :meth:`on_market`, in event-time order like
    every later tick. So placement does not depend on how far the caller's view of the market
    has run ahead (a replayed tape fills the same way however fast it is replayed). A market
    order with no known market fills at its reference price plus slippage, unless latency
    defers it to a later tick.
    """

    live = False
    matches_on_ticks = True

    def __init__(
        self,
        fill_model: FillModel,
        *,
        broker: str = "paper",
        tick_sizes: Mapping[int, float] | None = None,
    ) -> None:
        self.broker = broker
        self.fill_model = fill_model
        # Instrument token -> tick size, where known; others use the fill model's default.
        self._tick_sizes = dict(tick_sizes or {})

    async def place(self, order: OrderRequest, market: MarketTick | None) -> list[VenueEvent]:
        failure = self._refusal(order, market)
        if failure is not None:
            return [failure]
        at_creation = market is not None and market.timestamp == order.created_at
        tick = market if at_creation else _reference_tick(order)
        events: list[VenueEvent] = [Submitted(order_id=order.order_id)]
        events.extend(self._match(WorkingOrder(order), tick))
        return events

    async def on_market(self, order: WorkingOrder, tick: MarketTick) -> list[VenueEvent]:
        return list(self._match(order, tick))

    def health(self) -> dict:
        model = self.fill_model
        return {
            "status": "ok",
            "live": False,
            "slippage_bps": model.slippage_bps,
            "latency_ms": model.latency_ms,
            "liquidity_fraction": model.liquidity_fraction,
            "commission": type(model.commission).__name__,
        }

    def _match(self, order: WorkingOrder, tick: MarketTick) -> list[VenueEvent]:
        tick_size = self._tick_sizes.get(order.request.instrument_token)
        return list(self.fill_model.match(order, tick, tick_size=tick_size))

    def _refusal(self, order: OrderRequest, market: MarketTick | None) -> Failed | None:
        def fail(code: str, reason: str) -> Failed:
            return Failed(order_id=order.order_id, reason_code=code, reason=reason)

        if order.broker != self.broker:
            return fail(BROKER_MISMATCH, f"order for broker {order.broker!r} sent to venue {self.broker!r}")
        if not 0 < order.quantity <= MAX_QUANTITY:
            return fail(INVALID_QUANTITY, f"quantity {order.quantity} is not in 1..{MAX_QUANTITY}")
        if not _valid_price(order.reference_price):
            return fail(INVALID_REFERENCE_PRICE, f"reference price {order.reference_price} is not valid")
        if order.order_type is OrderType.LIMIT and not _valid_price(order.limit_price):
            return fail(INVALID_LIMIT_PRICE, f"limit price {order.limit_price} is not valid")
        if not _aware(order.created_at):
            return fail(INVALID_TIMESTAMP, "created_at must be timezone-aware (event time in UTC)")
        if market is not None and market.instrument_token != order.instrument_token:
            return fail(
                INSTRUMENT_MISMATCH,
                f"market tick of instrument {market.instrument_token}, order of {order.instrument_token}",
            )
        return None


def paper_venue_from_settings(settings: Settings, *, broker: str = "paper") -> PaperVenue:
    """The paper venue configured by ``TRADING__PAPER__*``: slippage, commission model, latency
    and the share of a tick's liquidity an order may take."""
    paper = settings.trading.paper
    model = FillModel(
        paper.slippage_bps, commission_model(paper.commission),
        latency_ms=paper.latency_ms, liquidity_fraction=paper.liquidity_fraction,
    )
    return PaperVenue(model, broker=broker)


def _valid_price(price: float | None) -> bool:
    return price is not None and math.isfinite(price) and 0 < price < MAX_PRICE


def _aware(moment: datetime) -> bool:
    return moment.tzinfo is not None and moment.utcoffset() is not None


def _reference_tick(order: OrderRequest) -> MarketTick:
    """The tick that caused the signal, as far as the order knows it: price and time, no size."""
    return MarketTick(
        instrument_token=order.instrument_token,
        last_price=order.reference_price,
        timestamp=order.created_at,
    )
