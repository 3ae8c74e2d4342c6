"""Commission models: Zerodha-like NSE equity charges, computed by hand from the published rates."""

import pytest

from alphapanda.execution.paper.commissions import (
    CommissionModel,
    NoCommission,
    ZerodhaEquityCommission,
    ZerodhaEquityRates,
    commission_model,
)
from alphapanda.models import Side

MIS = ZerodhaEquityCommission("MIS")
CNC = ZerodhaEquityCommission("CNC")


def test_intraday_buy_pays_capped_brokerage_exchange_sebi_stamp_and_gst_but_no_stt():
    # turnover 100 x 1000 = 1,00,000
    b = MIS.breakdown(Side.BUY, 100, 1000.0)
    assert b.brokerage == pytest.approx(20.0)  # min(20, 30)
    assert b.stt == 0.0
    assert b.exchange_txn == pytest.approx(2.97)
    assert b.sebi_fee == pytest.approx(0.10)
    assert b.stamp_duty == pytest.approx(3.00)
    assert b.gst == pytest.approx(0.18 * (20 + 2.97 + 0.10))  # 4.1526
    assert MIS.charges(Side.BUY, 100, 1000.0) == 30.22  # 30.2226


def test_intraday_sell_pays_stt_and_no_stamp_duty():
    b = MIS.breakdown(Side.SELL, 100, 1000.0)
    assert b.stt == pytest.approx(25.0)
    assert b.stamp_duty == 0.0
    assert MIS.charges(Side.SELL, 100, 1000.0) == 52.22  # 20 + 25 + 2.97 + 0.10 + 4.1526


def test_intraday_brokerage_below_the_cap_is_three_basis_points():
    # turnover 1,000: brokerage 0.30, exchange 0.0297, SEBI 0.001, stamp 0.03, GST 0.059526
    assert MIS.breakdown(Side.BUY, 10, 100.0).brokerage == pytest.approx(0.30)
    assert MIS.charges(Side.BUY, 10, 100.0) == 0.42  # 0.420226


def test_delivery_is_brokerage_free_with_stt_on_both_sides_and_stamp_on_buys():
    buy = CNC.breakdown(Side.BUY, 100, 1000.0)
    assert buy.brokerage == 0.0
    assert buy.stt == pytest.approx(100.0)
    assert buy.stamp_duty == pytest.approx(15.0)
    assert CNC.charges(Side.BUY, 100, 1000.0) == 118.62  # 100 + 2.97 + 0.10 + 15 + 0.5526
    assert CNC.charges(Side.SELL, 100, 1000.0) == 103.62  # 100 + 2.97 + 0.10 + 0.5526


def test_nothing_traded_costs_nothing():
    assert MIS.charges(Side.BUY, 0, 1000.0) == 0.0
    assert CNC.charges(Side.SELL, 0, 1000.0) == 0.0


def test_rates_are_configurable():
    flat = ZerodhaEquityCommission("MIS", ZerodhaEquityRates(brokerage_cap=5.0))
    assert flat.breakdown(Side.BUY, 100, 1000.0).brokerage == 5.0


def test_unknown_product_is_refused():
    with pytest.raises(ValueError, match="MIS"):
        ZerodhaEquityCommission("NRML")  # type: ignore[arg-type]


def test_no_commission_is_free():
    assert NoCommission().charges(Side.SELL, 1_000_000, 5000.0) == 0.0


def test_factory_names_the_settings_values():
    assert commission_model("zerodha") == ZerodhaEquityCommission("MIS")
    assert isinstance(commission_model("none"), NoCommission)
    assert isinstance(commission_model("zerodha"), CommissionModel)


def test_factory_refuses_unknown_names_and_lists_the_known_ones():
    with pytest.raises(ValueError, match="zerodha, none"):
        commission_model("ibkr")
