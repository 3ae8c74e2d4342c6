"""The lifecycle of one order: NEW -> SUBMITTED -> PARTIALLY_FILLED -> FILLED / FAILED / CANCELLED.

An :class:`OrderRecord` is what the orders table keeps per order. It is the single source of
truth the execution lane works from: it records every outcome applied (each fill with its price,
the venue's id, the failure), so that

- an outcome delivered twice (a redelivered tick or venue update) changes nothing
  (:meth:`OrderRecord.applies`);
- a signal redelivered after its order exists re-sends the same outcomes instead of placing a
  second order (:meth:`OrderRecord.outcomes`, with the same event ids downstream);
- after a restart the lane can hand a venue the order as it stands (:meth:`OrderRecord.working`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from alphapanda.execution.venue import (
    Cancelled, Failed, Fill, OrderRequest, Submitted, VenueEvent, WorkingOrder,
)
from alphapanda.models import MarketTick, OrderType, Side

__all__ = ["OrderState", "OrderRecord", "TickStamp", "tick_stamp"]

#: The event-time position of a tick in its instrument's stream: (timestamp, cumulative volume).
#: Kite stamps ticks to the second, so volume orders the ticks of one second.
TickStamp = tuple[datetime, int]


def tick_stamp(tick: MarketTick) -> TickStamp:
    return tick.timestamp, tick.volume or 0


class OrderState(StrEnum):
    NEW = "NEW"
    SUBMITTED = "SUBMITTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_final(self) -> bool:
        return self in (OrderState.FILLED, OrderState.FAILED, OrderState.CANCELLED)


@dataclass(frozen=True)
class OrderRecord:
    """One order and every outcome applied to it (JSON via :meth:`to_dict`).

    ``correlation_id`` is the chain the order belongs to (the signal's), so outcomes that arrive
    later (ticks, venue updates) are emitted in the same chain. ``last_tick`` is the stamp of the
    newest tick the order was matched against (local venues), so a tick is never used twice.
    """

    order_id: str
    broker: str
    signal_id: str
    strategy_id: str
    instrument_token: int
    side: Side
    quantity: int
    order_type: OrderType
    limit_price: float | None
    reference_price: float
    created_at: str
    account_id: str = ""
    correlation_id: str = ""
    state: OrderState = OrderState.NEW
    submitted: bool = False  # the venue accepted the order
    filled_quantity: int = 0
    average_fill_price: float | None = None
    commission: float = 0.0
    venue_order_id: str | None = None
    reason_code: str | None = None
    reason: str | None = None
    fills: tuple[Fill, ...] = field(default_factory=tuple)
    last_tick_at: str | None = None
    last_tick_volume: int = 0
    halted_trading: bool = False
    updated_at: str | None = None

    @classmethod
    def new(cls, request: OrderRequest, *, correlation_id: str = "") -> "OrderRecord":
        return cls(
            order_id=request.order_id, broker=request.broker, signal_id=request.signal_id,
            strategy_id=request.strategy_id, instrument_token=request.instrument_token,
            side=request.side, quantity=request.quantity, order_type=request.order_type,
            limit_price=request.limit_price, reference_price=request.reference_price,
            created_at=request.created_at.isoformat(), account_id=request.account_id,
            correlation_id=correlation_id or request.signal_id,
        )

    # Views ------------------------------------------------------------------------------

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled_quantity

    @property
    def is_working(self) -> bool:
        """Accepted and not finished: fills may still come."""
        return self.state in (OrderState.SUBMITTED, OrderState.PARTIALLY_FILLED)

    @property
    def fill_ids(self) -> tuple[str, ...]:
        return tuple(f.fill_id for f in self.fills)

    @property
    def last_tick(self) -> TickStamp | None:
        if self.last_tick_at is None:
            return None
        return datetime.fromisoformat(self.last_tick_at), self.last_tick_volume

    def request(self) -> OrderRequest:
        return OrderRequest(
            order_id=self.order_id, broker=self.broker, account_id=self.account_id or self.broker,
            signal_id=self.signal_id, strategy_id=self.strategy_id,
            instrument_token=self.instrument_token, side=self.side, quantity=self.quantity,
            order_type=self.order_type, limit_price=self.limit_price,
            reference_price=self.reference_price, created_at=datetime.fromisoformat(self.created_at),
        )

    def working(self) -> WorkingOrder:
        """The order as a venue needs it to progress it."""
        return WorkingOrder(self.request(), self.filled_quantity, self.average_fill_price)

    def outcomes(self) -> list[VenueEvent]:
        """Every outcome applied so far, in order: what the order's events were made from."""
        events: list[VenueEvent] = []
        if self.submitted:
            events.append(Submitted(self.order_id, self.venue_order_id))
        events.extend(self.fills)
        if self.state is OrderState.FAILED:
            events.append(Failed(self.order_id, self.reason_code or "FAILED", self.reason or "",
                                 halts_trading=self.halted_trading))
        elif self.state is OrderState.CANCELLED:
            events.append(Cancelled(self.order_id, self.reason or ""))
        return events

    # Changes ----------------------------------------------------------------------------

    def applies(self, event: VenueEvent) -> bool:
        """False for an outcome already applied (a repeated fill) or after a final state.

        A new fill applies even after a final state: a live venue may report a fill that
        happened before its cancel or before we gave up on it, and that money has moved.
        """
        if isinstance(event, Fill):
            return event.fill_id not in self.fill_ids and 0 < event.quantity <= self.remaining
        if isinstance(event, Submitted):
            return not self.submitted and not self.state.is_final
        return not self.state.is_final

    def apply(self, event: VenueEvent, at: datetime) -> "OrderRecord":
        stamp = at.isoformat()
        if isinstance(event, Submitted):
            state = self.state if self.state is not OrderState.NEW else OrderState.SUBMITTED
            return replace(self, state=state, submitted=True,
                           venue_order_id=event.venue_order_id or self.venue_order_id, updated_at=stamp)
        if isinstance(event, Fill):
            filled = self.filled_quantity + event.quantity
            notional = (self.average_fill_price or 0.0) * self.filled_quantity + event.price * event.quantity
            return replace(
                self,
                filled_quantity=filled,
                average_fill_price=notional / filled,
                commission=round(self.commission + event.commission, 2),
                state=(OrderState.FILLED if filled >= self.quantity
                       else self.state if self.state.is_final else OrderState.PARTIALLY_FILLED),
                fills=(*self.fills, event),
                updated_at=stamp,
            )
        if isinstance(event, Failed):
            return replace(self, state=OrderState.FAILED, reason_code=event.reason_code, reason=event.reason,
                           halted_trading=event.halts_trading, updated_at=stamp)
        if isinstance(event, Cancelled):
            return replace(self, state=OrderState.CANCELLED, reason_code="CANCELLED", reason=event.reason, updated_at=stamp)
        raise TypeError(f"unknown venue event {event!r}")

    def saw_tick(self, tick: MarketTick) -> "OrderRecord":
        """The record after matching against ``tick`` (whether or not it filled)."""
        return replace(self, last_tick_at=tick.timestamp.isoformat(), last_tick_volume=tick.volume or 0)

    def is_new_tick(self, tick: MarketTick) -> bool:
        """Whether ``tick`` comes after every tick this order was matched against (event time)."""
        last = self.last_tick
        if last is None:
            return tick.timestamp > datetime.fromisoformat(self.created_at)
        return tick_stamp(tick) > last

    # JSON -------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "order_id": self.order_id, "broker": self.broker, "account_id": self.account_id,
            "signal_id": self.signal_id, "strategy_id": self.strategy_id,
            "instrument_token": self.instrument_token, "side": self.side.value,
            "quantity": self.quantity, "order_type": self.order_type.value,
            "limit_price": self.limit_price, "reference_price": self.reference_price,
            "created_at": self.created_at, "correlation_id": self.correlation_id,
            "state": self.state.value, "submitted": self.submitted, "filled_quantity": self.filled_quantity,
            "average_fill_price": self.average_fill_price, "commission": self.commission,
            "venue_order_id": self.venue_order_id, "reason_code": self.reason_code,
            "reason": self.reason, "halted_trading": self.halted_trading,
            "fill_ids": list(self.fill_ids),
            "fills": [
                {"fill_id": f.fill_id, "quantity": f.quantity, "price": f.price,
                 "commission": f.commission, "timestamp": f.timestamp.isoformat()}
                for f in self.fills
            ],
            "last_tick_at": self.last_tick_at, "last_tick_volume": self.last_tick_volume,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "OrderRecord":
        order_id = data["order_id"]
        fills = tuple(
            Fill(order_id=order_id, fill_id=f["fill_id"], quantity=int(f["quantity"]), price=float(f["price"]),
                 commission=float(f["commission"]), timestamp=datetime.fromisoformat(f["timestamp"]))
            for f in data.get("fills", ())
        )
        known = {name for name in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        return cls(**{
            **values,
            "side": Side(data["side"]),
            "order_type": OrderType(data["order_type"]),
            "state": OrderState(data["state"]),
            "fills": fills,
        })
