"""The one interface every execution venue implements, and the order/outcome types it speaks.

Agents talk to venues only through :class:`Venue`; behaviour per broker lives in the adapter
(paper simulator, Zerodha via kiteconnect, ...), never in ``if broker == ...`` branches.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any, AsyncIterator, Mapping

from alphapanda.models import MarketTick, OrderType, Side

__all__ = [
    "OrderRequest",
    "WorkingOrder",
    "Submitted",
    "Fill",
    "Failed",
    "Cancelled",
    "VenueEvent",
    "Venue",
    "LIVE_TRADING_DISABLED",
]

LIVE_TRADING_DISABLED = "LIVE_TRADING_DISABLED"


@dataclass(frozen=True)
class OrderRequest:
    """An order to place: made from a validated signal; ``order_id`` is ours and deterministic."""

    order_id: str
    broker: str
    account_id: str
    signal_id: str
    strategy_id: str
    instrument_token: int
    side: Side
    quantity: int
    order_type: OrderType
    limit_price: float | None
    reference_price: float  # the price of the tick that caused the signal
    created_at: datetime  # event time of the signal


@dataclass(frozen=True)
class WorkingOrder:
    """An order that is live at a venue that matches locally (paper): what is left to fill."""

    request: OrderRequest
    filled_quantity: int = 0
    #: average price of what is filled so far (None before the first fill)
    average_fill_price: float | None = None

    @property
    def remaining(self) -> int:
        return self.request.quantity - self.filled_quantity


@dataclass(frozen=True)
class Submitted:
    order_id: str
    venue_order_id: str | None = None


@dataclass(frozen=True)
class Fill:
    order_id: str
    fill_id: str  # deterministic: the same order and market give the same fill ids
    quantity: int
    price: float
    commission: float
    timestamp: datetime


@dataclass(frozen=True)
class Failed:
    order_id: str
    reason_code: str  # stable UPPER_SNAKE code, e.g. LIVE_TRADING_DISABLED, VENUE_REJECTED
    reason: str
    #: True when nothing can trade on this venue until an operator acts (e.g. an expired session):
    #: the execution lane then halts the broker's trading in the risk stage.
    halts_trading: bool = False


@dataclass(frozen=True)
class Cancelled:
    order_id: str
    reason: str = ""


VenueEvent = Submitted | Fill | Failed | Cancelled


class Venue(ABC):
    """A place orders go. One instance per broker name, built from settings by the registry.

    Responsibilities: accept or refuse an order (:meth:`place`), and turn what happens to it
    afterwards into :data:`VenueEvent` values, either from ticks (:meth:`on_market`, venues that
    match locally) or from the venue's own order updates (:meth:`on_update`). A venue keeps no
    order state the lane needs after a restart: the lane passes each order as the orders table
    knows it (:class:`WorkingOrder`).
    """

    #: the broker name this venue serves
    broker: str
    #: True when orders move real money; strategies must opt in to live venues explicitly
    live: bool = False
    #: True when working orders progress on market ticks (:meth:`on_market`): the lane then
    #: receives the ticks of instruments with working orders
    matches_on_ticks: bool = False

    @abstractmethod
    async def place(self, order: OrderRequest, market: MarketTick | None) -> list[VenueEvent]:
        """Place ``order``; return what is known at once (submitted, fills, failure).

        ``market`` is the latest tick of the order's instrument, when known. Must be idempotent
        for the same ``order.order_id``.
        """

    async def on_market(self, order: WorkingOrder, tick: MarketTick) -> list[VenueEvent]:
        """Progress a working order on a new tick (resting limits, partial fills); local venues only."""
        return []

    def order_ref(self, order_id: str) -> str | None:
        """The reference the venue's order updates carry for our ``order_id`` (Kite: the tag),
        or None when the venue sends no order updates."""
        return None

    def update_ref(self, payload: Mapping[str, Any]) -> str | None:
        """The reference (see :meth:`order_ref`) of the order an update is about; None when the
        update is not about one of our orders (or not an order update at all)."""
        return None

    async def on_update(self, order: WorkingOrder, payload: Mapping[str, Any]) -> list[VenueEvent]:
        """The events of one order update of ``order`` (fills beyond ``order.filled_quantity``,
        a terminal state). Repeated or stale updates give no new fills."""
        return []

    def postback_refusal(self) -> str | None:
        """Why this venue takes no HTTP postbacks at all (None when it can verify them): an
        unverifiable postback could move an account's positions, so it is refused (403)."""
        return f"broker {self.broker!r} takes no postbacks"

    def postback_error(self, payload: Mapping[str, Any]) -> str | None:
        """Why an HTTP postback from the venue is not acceptable (None when it is)."""
        return f"broker {self.broker!r} takes no postbacks"

    def updates(self) -> AsyncIterator[VenueEvent] | None:
        """Asynchronous outcomes (order updates of a live venue), or None when there are none."""
        return None

    async def start(self) -> None:
        """Open connections; called once before the first order."""

    async def stop(self) -> None:
        """Close connections; must leave no task or thread behind."""

    def health(self) -> dict:
        """Venue status for ``/api/v1/health`` (e.g. session valid, rate limit state)."""
        return {"status": "ok"}
