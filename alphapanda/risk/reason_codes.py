"""The stable reason codes of risk rejections (CONTRACTS.md): operators and dashboards match on them."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["RiskReason"]


class RiskReason(StrEnum):
    """Why the risk engine rejected a signal. Values are part of the wire contract: never rename."""

    MAX_ORDER_QUANTITY_EXCEEDED = "MAX_ORDER_QUANTITY_EXCEEDED"
    MAX_ORDER_NOTIONAL_EXCEEDED = "MAX_ORDER_NOTIONAL_EXCEEDED"
    MAX_POSITION_EXCEEDED = "MAX_POSITION_EXCEEDED"
    MAX_GROSS_EXPOSURE_EXCEEDED = "MAX_GROSS_EXPOSURE_EXCEEDED"
    RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"
    DAILY_LOSS_LIMIT_REACHED = "DAILY_LOSS_LIMIT_REACHED"
    TRADING_HALTED = "TRADING_HALTED"
    TRADING_STATE_REDUCING = "TRADING_STATE_REDUCING"
    INSTRUMENT_NOT_ALLOWED = "INSTRUMENT_NOT_ALLOWED"
