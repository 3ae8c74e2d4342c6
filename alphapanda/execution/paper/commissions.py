"""What an executed trade costs: brokerage plus statutory charges, per commission model.

A model answers one question, ``charges(side, quantity, price)``: the rupees charged for executing
``quantity`` at ``price`` as one order. The fill model turns that into per-fill commissions
(see :mod:`alphapanda.execution.paper.fill_model`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from alphapanda.models import Side

__all__ = [
    "CommissionModel",
    "NoCommission",
    "ZerodhaEquityRates",
    "ZERODHA_NSE_EQUITY_RATES",
    "ChargeBreakdown",
    "ZerodhaEquityCommission",
    "COMMISSION_MODELS",
    "commission_model",
]

#: Names accepted by :func:`commission_model` (the ``TRADING__PAPER__COMMISSION`` setting).
COMMISSION_MODELS = ("zerodha", "none")

Product = Literal["MIS", "CNC"]


@runtime_checkable
class CommissionModel(Protocol):
    """Charges, in rupees (>= 0), for executing ``quantity`` at ``price`` as one order."""

    def charges(self, side: Side, quantity: int, price: float) -> float: ...


@dataclass(frozen=True)
class NoCommission:
    """Trading is free: for tests and for comparing strategies gross of costs."""

    def charges(self, side: Side, quantity: int, price: float) -> float:
        return 0.0


@dataclass(frozen=True)
class ZerodhaEquityRates:
    """Zerodha's NSE equity rates, as fractions of turnover (``quantity * price``) unless noted.

    Parameters
    ----------
    intraday_brokerage_rate : float, default 0.0003
        MIS brokerage, 0.03% of turnover, capped by ``brokerage_cap`` per executed order.
    brokerage_cap : float, default 20.0
        Rupees; the most MIS brokerage one executed order pays.
    delivery_brokerage_rate : float, default 0.0
        CNC (delivery) brokerage: free at Zerodha.
    stt_intraday_sell_rate : float, default 0.00025
        Securities Transaction Tax on MIS, 0.025%, sell side only.
    stt_delivery_rate : float, default 0.001
        Securities Transaction Tax on CNC, 0.1%, buy and sell.
    exchange_txn_rate : float, default 0.0000297
        NSE transaction charge, 0.00297%, both sides.
    sebi_fee_per_crore : float, default 10.0
        SEBI turnover fee, Rs 10 per crore (1e7) of turnover, both sides.
    stamp_intraday_buy_rate : float, default 0.00003
        Stamp duty on MIS, 0.003%, buy side only.
    stamp_delivery_buy_rate : float, default 0.00015
        Stamp duty on CNC, 0.015%, buy side only.
    gst_rate : float, default 0.18
        GST, 18% of (brokerage + exchange transaction charge + SEBI fee).
    """

    intraday_brokerage_rate: float = 0.0003
    brokerage_cap: float = 20.0
    delivery_brokerage_rate: float = 0.0
    stt_intraday_sell_rate: float = 0.00025
    stt_delivery_rate: float = 0.001
    exchange_txn_rate: float = 0.0000297
    sebi_fee_per_crore: float = 10.0
    stamp_intraday_buy_rate: float = 0.00003
    stamp_delivery_buy_rate: float = 0.00015
    gst_rate: float = 0.18


ZERODHA_NSE_EQUITY_RATES = ZerodhaEquityRates()

_CRORE = 1e7


@dataclass(frozen=True)
class ChargeBreakdown:
    """Each charge of one executed order, in rupees, unrounded; ``total`` is rounded to paise."""

    brokerage: float
    stt: float
    exchange_txn: float
    sebi_fee: float
    stamp_duty: float
    gst: float

    @property
    def total(self) -> float:
        return round(
            self.brokerage + self.stt + self.exchange_txn + self.sebi_fee + self.stamp_duty + self.gst,
            2,
        )


@dataclass(frozen=True)
class ZerodhaEquityCommission:
    """A Zerodha-like model of NSE equity costs for intraday (``MIS``) or delivery (``CNC``) trades.

    Charges are computed per executed order from its turnover. Contract-note rounding (STT and
    stamp duty to whole rupees per scrip and day) is not modelled: the total is rounded to paise.
    """

    product: Product = "MIS"
    rates: ZerodhaEquityRates = ZERODHA_NSE_EQUITY_RATES

    def __post_init__(self) -> None:
        if self.product not in ("MIS", "CNC"):
            raise ValueError(f"product must be 'MIS' or 'CNC', not {self.product!r}")

    def breakdown(self, side: Side, quantity: int, price: float) -> ChargeBreakdown:
        r = self.rates
        turnover = abs(quantity) * price
        buy, sell = side is Side.BUY, side is Side.SELL
        if self.product == "MIS":
            brokerage = min(r.brokerage_cap, r.intraday_brokerage_rate * turnover)
            stt = r.stt_intraday_sell_rate * turnover if sell else 0.0
            stamp = r.stamp_intraday_buy_rate * turnover if buy else 0.0
        else:
            brokerage = r.delivery_brokerage_rate * turnover
            stt = r.stt_delivery_rate * turnover
            stamp = r.stamp_delivery_buy_rate * turnover if buy else 0.0
        exchange = r.exchange_txn_rate * turnover
        sebi = r.sebi_fee_per_crore * turnover / _CRORE
        gst = r.gst_rate * (brokerage + exchange + sebi)
        return ChargeBreakdown(brokerage, stt, exchange, sebi, stamp, gst)

    def charges(self, side: Side, quantity: int, price: float) -> float:
        return self.breakdown(side, quantity, price).total


def commission_model(name: str) -> CommissionModel:
    """The model named by the ``TRADING__PAPER__COMMISSION`` setting.

    ``zerodha`` is intraday (MIS): the pipeline's strategies open and close within the session.
    """
    if name == "zerodha":
        return ZerodhaEquityCommission("MIS")
    if name == "none":
        return NoCommission()
    raise ValueError(f"unknown commission model {name!r}; expected one of {', '.join(COMMISSION_MODELS)}")
