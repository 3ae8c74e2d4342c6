"""The lifecycle of one order: NEW -> SUBMITTED -> PARTIALLY_FILLED -> FILLED / FAILED / CANCELLED."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from alphapanda.execution.venue import Cancelled, Failed, Fill, OrderRequest, Submitted, VenueEvent
from alphapanda.models import OrderType, Side

__all__ = ["OrderState", "OrderRecord"]


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
    """What the orders table keeps per order (JSON via :meth:`to_dict`)."""

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
    state: OrderState = OrderState.NEW
    filled_quantity: int = 0
    average_fill_price: float | None = None
    commission: float = 0.0
    venue_order_id: str | None = None
    reason_code: str | None = None
    reason: str | None = None
    fill_ids: tuple[str, ...] = field(default_factory=tuple)
    updated_at: str | None = None

    @classmethod
    def new(cls, request: OrderRequest) -> "OrderRecord":
        return cls(
            order_id=request.order_id, broker=request.broker, signal_id=request.signal_id,
            strategy_id=request.strategy_id, instrument_token=request.instrument_token,
            side=request.side, quantity=request.quantity, order_type=request.order_type,
            limit_price=request.limit_price, reference_price=request.reference_price,
            created_at=request.created_at.isoformat(),
        )

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled_quantity

    def request(self) -> OrderRequest:
        return OrderRequest(
            order_id=self.order_id, broker=self.broker, account_id=self.broker,
            signal_id=self.signal_id, strategy_id=self.strategy_id,
            instrument_token=self.instrument_token, side=self.side, quantity=self.quantity,
            order_type=self.order_type, limit_price=self.limit_price,
            reference_price=self.reference_price, created_at=datetime.fromisoformat(self.created_at),
        )

    def applies(self, event: VenueEvent) -> bool:
        """False for an outcome already applied (a repeated fill) or after a final state."""
        if isinstance(event, Fill):
            return event.fill_id not in self.fill_ids and event.quantity <= self.remaining
        return not self.state.is_final

    def apply(self, event: VenueEvent, at: datetime) -> "OrderRecord":
        stamp = at.isoformat()
        if isinstance(event, Submitted):
            state = self.state if self.state is not OrderState.NEW else OrderState.SUBMITTED
            return replace(self, state=state, venue_order_id=event.venue_order_id or self.venue_order_id, updated_at=stamp)
        if isinstance(event, Fill):
            filled = self.filled_quantity + event.quantity
            notional = (self.average_fill_price or 0.0) * self.filled_quantity + event.price * event.quantity
            return replace(
                self,
                filled_quantity=filled,
                average_fill_price=notional / filled,
                commission=self.commission + event.commission,
                state=OrderState.FILLED if filled >= self.quantity else OrderState.PARTIALLY_FILLED,
                fill_ids=(*self.fill_ids, event.fill_id),
                updated_at=stamp,
            )
        if isinstance(event, Failed):
            return replace(self, state=OrderState.FAILED, reason_code=event.reason_code, reason=event.reason, updated_at=stamp)
        if isinstance(event, Cancelled):
            return replace(self, state=OrderState.CANCELLED, reason_code="CANCELLED", reason=event.reason, updated_at=stamp)
        raise TypeError(f"unknown venue event {event!r}")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["fill_ids"] = list(self.fill_ids)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "OrderRecord":
        return cls(**{
            **data,
            "side": Side(data["side"]),
            "order_type": OrderType(data["order_type"]),
            "state": OrderState(data["state"]),
            "fill_ids": tuple(data.get("fill_ids", ())),
        })
