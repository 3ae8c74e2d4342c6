"""The Kite instrument master: loading the CSV, lookups, and errors that name the bad line."""

from __future__ import annotations

from datetime import date

import pytest

from alphapanda.market.instruments import (
    Instrument,
    InstrumentMasterError,
    UnknownInstrumentError,
    load_instrument_master,
    parse_instrument_master,
)
from alphapanda.market.kite.packets import SEGMENT_INDICES, segment_of

HEADER = (
    "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,"
    "lot_size,instrument_type,segment,exchange\n"
)
NIFTY_FUT = "13238786,51714,NIFTY26JANFUT,NIFTY,0,2026-01-27,0,0.1,75,FUT,NFO-FUT,NFO\n"
INFY = "408065,1594,INFY,INFOSYS,0,,0,0.05,1,EQ,NSE,NSE\n"


def write(tmp_path, text: str):
    path = tmp_path / "instruments.csv"
    path.write_text(text)
    return path


def test_the_bundled_master_lists_the_well_known_tokens():
    master = load_instrument_master()
    assert {256265, 260105, 408065, 738561, 2953217} <= {i.instrument_token for i in master}
    assert master.by_token(738561).tradingsymbol == "RELIANCE"
    assert master.by_symbol("NSE", "TCS").instrument_token == 2953217


def test_bundled_indices_follow_kite_segment_indices_on_nse():
    nifty = load_instrument_master().by_token(256265)
    assert (nifty.tradingsymbol, nifty.exchange, nifty.segment) == ("NIFTY 50", "NSE", "INDICES")
    assert nifty.is_index and segment_of(nifty.instrument_token) == SEGMENT_INDICES


def test_bundled_equities_are_nse_with_tick_and_lot_size():
    for instrument in load_instrument_master():
        if not instrument.is_index:
            assert (instrument.exchange, instrument.segment, instrument.instrument_type) == (
                "NSE", "NSE", "EQ",
            )
            assert (instrument.tick_size, instrument.lot_size) == (0.05, 1)
            # Kite tokens are the exchange token shifted left by 8, plus the segment code.
            assert instrument.instrument_token >> 8 == instrument.exchange_token


def test_a_row_becomes_a_typed_instrument(tmp_path):
    master = load_instrument_master(write(tmp_path, HEADER + NIFTY_FUT))
    assert master.by_token(13238786) == Instrument(
        instrument_token=13238786, exchange_token=51714, tradingsymbol="NIFTY26JANFUT",
        name="NIFTY", exchange="NFO", segment="NFO-FUT", instrument_type="FUT",
        tick_size=0.1, lot_size=75, expiry=date(2026, 1, 27), strike=0.0,
    )


def test_lookups_by_symbol_are_per_exchange(tmp_path):
    master = load_instrument_master(write(tmp_path, HEADER + INFY))
    assert master.by_symbol("NSE", "INFY").instrument_token == 408065
    with pytest.raises(UnknownInstrumentError, match="BSE:INFY"):
        master.by_symbol("BSE", "INFY")


def test_an_unknown_token_raises_and_get_returns_none(tmp_path):
    master = load_instrument_master(write(tmp_path, HEADER + INFY))
    with pytest.raises(UnknownInstrumentError, match="42"):
        master.by_token(42)
    assert master.get(42) is None
    assert 408065 in master and 42 not in master and len(master) == 1


def test_a_bad_number_names_the_file_and_line(tmp_path):
    path = write(tmp_path, HEADER + INFY + "738561,2885,RELIANCE,RELIANCE,0,,0,abc,1,EQ,NSE,NSE\n")
    with pytest.raises(InstrumentMasterError, match=rf"{path}:3: .*abc"):
        load_instrument_master(path)


def test_a_bad_expiry_names_the_line(tmp_path):
    bad = NIFTY_FUT.replace("2026-01-27", "27-01-2026")
    with pytest.raises(InstrumentMasterError, match=r":2: .*27-01-2026"):
        load_instrument_master(write(tmp_path, HEADER + bad))


def test_a_short_row_names_the_line(tmp_path):
    with pytest.raises(InstrumentMasterError, match=r":3: expected 12 fields"):
        load_instrument_master(write(tmp_path, HEADER + INFY + "1,2,X\n"))


def test_a_duplicate_token_names_both_lines(tmp_path):
    again = INFY.replace("INFY,", "INFY2,", 1)
    with pytest.raises(InstrumentMasterError, match=r":3: instrument_token 408065 already on line 2"):
        load_instrument_master(write(tmp_path, HEADER + INFY + again))


def test_a_duplicate_symbol_names_both_lines(tmp_path):
    again = INFY.replace("408065", "999", 1)
    with pytest.raises(InstrumentMasterError, match=r":3: NSE:INFY already on line 2"):
        load_instrument_master(write(tmp_path, HEADER + INFY + again))


def test_a_header_without_required_columns_is_rejected():
    with pytest.raises(InstrumentMasterError, match=r"<instruments>:1: .*tick_size"):
        parse_instrument_master(
            ["instrument_token,exchange_token,tradingsymbol,name,expiry,strike,lot_size,"
             "instrument_type,segment,exchange\n"]
        )


def test_a_zero_token_is_rejected(tmp_path):
    with pytest.raises(InstrumentMasterError, match=r":2: instrument_token must be positive"):
        load_instrument_master(write(tmp_path, HEADER + INFY.replace("408065", "0", 1)))
