"""Paper trading: orders matched locally against market ticks, with slippage, liquidity and fees."""

from alphapanda.execution.paper.commissions import (
    COMMISSION_MODELS,
    CommissionModel,
    NoCommission,
    ZerodhaEquityCommission,
    ZerodhaEquityRates,
    commission_model,
)
from alphapanda.execution.paper.fill_model import DEFAULT_TICK_SIZE, FillModel
from alphapanda.execution.paper.venue import PaperVenue, paper_venue_from_settings

__all__ = [
    "COMMISSION_MODELS",
    "CommissionModel",
    "NoCommission",
    "ZerodhaEquityCommission",
    "ZerodhaEquityRates",
    "commission_model",
    "DEFAULT_TICK_SIZE",
    "FillModel",
    "PaperVenue",
    "paper_venue_from_settings",
]
