"""The envelope every topic carries, and the event types it can hold.

Every value on every topic is an :class:`Envelope` whose ``data`` is one of the payloads in
:mod:`alphapanda.models.payloads`. The wire form is plain JSON (CONTRACTS.md, Envelope).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from enum import StrEnum
from typing import Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = ["EventType", "Envelope", "new_event_id", "utc_now"]

PayloadT = TypeVar("PayloadT", bound=BaseModel)


class EventType(StrEnum):
    MARKET_TICK = "market_tick"
    TRADING_SIGNAL = "trading_signal"
    VALIDATED_SIGNAL = "validated_signal"
    REJECTED_SIGNAL = "rejected_signal"
    ORDER_PLACED = "order_placed"
    ORDER_FILLED = "order_filled"
    ORDER_FAILED = "order_failed"
    PNL_SNAPSHOT = "pnl_snapshot"
    DEAD_LETTER = "dead_letter"
    RISK_COMMAND = "risk_command"
    VENUE_ORDER_UPDATE = "venue_order_update"


def new_event_id() -> str:
    return uuid.uuid4().hex


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Envelope(BaseModel, Generic[PayloadT]):
    """One event on a topic: identity, causality and the typed payload."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = Field(default_factory=new_event_id, min_length=1, max_length=128)
    type: EventType
    timestamp: AwareDatetime = Field(default_factory=utc_now)
    correlation_id: str = Field(min_length=1, max_length=128)
    causation_id: str | None = Field(default=None, max_length=128)
    source: str = Field(min_length=1, max_length=64)
    version: int = Field(default=1, ge=1)
    broker: str | None = Field(default=None, max_length=64)
    data: PayloadT

    def caused(
        self,
        event_type: EventType,
        data: BaseModel,
        *,
        source: str,
        broker: str | None,
        event_id: str | None = None,
    ) -> "Envelope":
        """The next event of this chain: same correlation id, caused by this event."""
        return Envelope[type(data)](  # type: ignore[misc]
            id=event_id or new_event_id(),
            type=event_type,
            correlation_id=self.correlation_id,
            causation_id=self.id,
            source=source,
            broker=broker,
            data=data,
        )
