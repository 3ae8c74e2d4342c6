"""The payloads (``data``) of each event type, validated at the edge.

Bounds are deliberately tight: a price or quantity outside them is a producer bug or an attack,
and goes to the DLQ instead of into positions.
"""

from __future__ import annotations

import math

from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "MAX_PRICE",
    "MAX_QUANTITY",
    "Side",
    "OrderType",
    "TradingState",
    "Ohlc",
    "DepthLevel",
    "Depth",
    "MarketTick",
    "TradingSignal",
    "RiskAssessment",
    "ValidatedSignal",
    "RejectedSignal",
    "OrderPlaced",
    "OrderFilled",
    "OrderFailed",
    "PositionView",
    "PortfolioSummary",
    "DeadLetter",
    "RiskCommand",
    "VenueOrderUpdate",
]

MAX_PRICE = 1e9
MAX_QUANTITY = 10**9
MAX_TOKEN = 2**32 - 1  # Kite instrument tokens are uint32

Price = Annotated[float, Field(gt=0, lt=MAX_PRICE, allow_inf_nan=False)]
Money = Annotated[float, Field(allow_inf_nan=False, gt=-1e15, lt=1e15)]
Quantity = Annotated[int, Field(gt=0, le=MAX_QUANTITY)]
SignedQuantity = Annotated[int, Field(ge=-MAX_QUANTITY, le=MAX_QUANTITY)]
Token = Annotated[int, Field(gt=0, le=MAX_TOKEN)]
Identifier = Annotated[str, Field(min_length=1, max_length=128)]


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"


class TradingState(StrEnum):
    ACTIVE = "ACTIVE"
    HALTED = "HALTED"
    REDUCING = "REDUCING"


class Ohlc(_Payload):
    open: Price
    high: Price
    low: Price
    close: Price


class DepthLevel(_Payload):
    price: Annotated[float, Field(ge=0, lt=MAX_PRICE, allow_inf_nan=False)]
    quantity: Annotated[int, Field(ge=0, le=MAX_QUANTITY)]
    orders: Annotated[int, Field(ge=0, le=MAX_QUANTITY)] = 0


class Depth(_Payload):
    buy: list[DepthLevel] = Field(default_factory=list, max_length=20)
    sell: list[DepthLevel] = Field(default_factory=list, max_length=20)


class MarketTick(_Payload):
    instrument_token: Token
    last_price: Price
    timestamp: AwareDatetime
    volume: Annotated[int, Field(ge=0, lt=2**63)] | None = None
    last_quantity: Annotated[int, Field(ge=0, le=MAX_QUANTITY)] | None = None
    average_price: Annotated[float, Field(ge=0, lt=MAX_PRICE, allow_inf_nan=False)] | None = None
    ohlc: Ohlc | None = None
    depth: Depth | None = None
    tradingsymbol: Annotated[str, Field(max_length=64)] | None = None

    @cached_property
    def epoch_seconds(self) -> float:
        """``timestamp`` as POSIX seconds, worked out once per tick: every strategy reads it, and
        on the datetime pydantic parses (its own tzinfo) each conversion costs about 1 us."""
        return self.timestamp.timestamp()


class TradingSignal(_Payload):
    strategy_id: Identifier
    instrument_token: Token
    signal_type: Side
    quantity: Quantity
    price: Price
    timestamp: AwareDatetime
    order_type: OrderType = OrderType.MARKET
    limit_price: Price | None = None
    confidence: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _limit_orders_need_a_limit_price(self) -> "TradingSignal":
        if self.order_type is OrderType.LIMIT and self.limit_price is None:
            raise ValueError("limit_price is required when order_type is LIMIT")
        return self

    @property
    def signed_quantity(self) -> int:
        return self.signal_type.sign * self.quantity


class RiskAssessment(_Payload):
    checks: list[str]
    position_after: SignedQuantity
    gross_exposure_after: Money


class ValidatedSignal(_Payload):
    signal: TradingSignal
    risk: RiskAssessment


class RejectedSignal(_Payload):
    signal: TradingSignal
    reason_code: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$")]
    reason: str


class _OrderEvent(_Payload):
    order_id: Identifier
    signal_id: Identifier
    strategy_id: Identifier
    instrument_token: Token
    side: Side
    quantity: Quantity


class OrderPlaced(_OrderEvent):
    order_type: OrderType = OrderType.MARKET
    limit_price: Price | None = None
    venue_order_id: str | None = None


class OrderFilled(_OrderEvent):
    fill_id: Identifier
    fill_price: Price
    commission: Annotated[float, Field(ge=0, lt=1e12, allow_inf_nan=False)] = 0.0
    # Of the order's quantity, how much is filled after this fill (partial fills).
    filled_quantity: Quantity | None = None
    # Market time of the fill: the timestamp of the tick (or venue report) it happened at. The
    # envelope's timestamp is when the event was made; a replayed tape's fills differ in that.
    filled_at: AwareDatetime | None = None

    @property
    def signed_quantity(self) -> int:
        return self.side.sign * self.quantity


class OrderFailed(_OrderEvent):
    reason_code: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$")]
    reason: str


class PositionView(_Payload):
    strategy_id: str
    instrument_token: int
    quantity: SignedQuantity
    average_price: Annotated[float, Field(ge=0, lt=MAX_PRICE, allow_inf_nan=False)]
    last_price: Annotated[float, Field(ge=0, lt=MAX_PRICE, allow_inf_nan=False)] | None
    realized_pnl: Money
    unrealized_pnl: Money
    fills: Annotated[int, Field(ge=0, le=10**12)] = 0


class PortfolioSummary(_Payload):
    broker: str
    positions: list[PositionView]
    realized_pnl: Money
    unrealized_pnl: Money
    total_pnl: Money
    fills: Annotated[int, Field(ge=0, le=10**12)]
    cash: Money | None = None
    equity: Money | None = None
    # Realized PnL of the UTC day of updated_at: the risk engine's daily loss limit reads it.
    realized_pnl_today: Money | None = None
    updated_at: AwareDatetime | None = None


class DeadLetter(_Payload):
    original_topic: str
    partition: int | None
    offset: int | None
    key: str | None
    value: str
    value_encoding: Literal["utf-8", "base64"] = "utf-8"
    error_type: str
    error: str
    service: str
    attempts: int
    failed_at: AwareDatetime


class RiskCommand(_Payload):
    """A change of a broker's risk limits or trading state, applied by the risk agent in order."""

    action: Literal["set_limits", "halt", "reduce", "resume"]
    # Any subset of the risk limits (numbers, null, or instrument lists); the engine validates
    # names and signs. Numbers beyond any real limit are refused here, as producer bugs.
    limits: dict[str, Any] = Field(default_factory=dict)
    reason: Annotated[str, Field(max_length=1000)] = ""

    @field_validator("limits")
    @classmethod
    def _numbers_are_finite_and_bounded(cls, limits: dict[str, Any]) -> dict[str, Any]:
        for name, value in limits.items():
            values = value if isinstance(value, list) else [value]
            for v in values:
                if isinstance(v, bool) or (isinstance(v, (int, float)) and not (math.isfinite(v) and abs(v) < 1e15)):
                    raise ValueError(f"{name}: {v!r} is not a finite number below 1e15")
        return limits


class VenueOrderUpdate(_Payload):
    """An order update as the venue sent it (e.g. Kite's order payload), for the execution lane."""

    via: Literal["websocket", "postback"]
    payload: dict[str, Any]
