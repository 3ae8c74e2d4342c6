"""The KiteTicker binary format: every packet layout, malformed frames, and agreement with
kiteconnect's own parser on the same bytes.

Fixture bytes are packed field by field from the layouts in KITE.md (not with our builder), so
the parser is checked against the documented format rather than against itself.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kiteconnect.ticker import KiteTicker as OfficialKiteTicker

from alphapanda.market.kite.packets import (
    DepthEntry,
    KitePacket,
    KiteProtocolError,
    build_frame,
    pack_full,
    pack_index,
    pack_ltp,
    pack_packet,
    pack_quote,
    packet_to_tick,
    parse_frame,
)

NIFTY_50 = 256265  # segment 9: index
INFY = 408065  # segment 1: NSE equity
USDINR_FUT = (1234 << 8) | 3  # segment 3: CDS
BCD_FUT = (99 << 8) | 6  # segment 6: BCD
EXCHANGE_TS = 1_763_700_000  # 2025-11-21T04:40:00Z
RECEIVED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def frame(*packets: bytes) -> bytes:
    """A frame packed by hand: uint16 count, then uint16 length + bytes per packet."""
    return struct.pack(">H", len(packets)) + b"".join(
        struct.pack(">H", len(p)) + p for p in packets
    )


def full_packet_bytes(token: int = INFY) -> bytes:
    head = struct.pack(
        ">16I",
        token, 150_025, 10, 149_900, 1_234_567, 5_000, 6_000,  # ltp, ltq, atp, vol, tbq, tsq
        148_000, 151_000, 147_500, 149_000,  # open, high, low, close
        EXCHANGE_TS - 3, 777, 900, 500, EXCHANGE_TS,  # ltt, oi, oi high, oi low, exchange ts
    )
    buy = [(100 + i, 150_000 - 5 * i, 3 + i) for i in range(5)]
    sell = [(200 + i, 150_050 + 5 * i, 7 + i) for i in range(3)] + [(0, 0, 0)] * 2
    depth = b"".join(struct.pack(">IIH2x", q, p, o) for q, p, o in buy + sell)
    return head + depth


# --- packet layouts -------------------------------------------------------------------------


def test_heartbeat_frames_carry_no_packets():
    assert parse_frame(b"") == []
    assert parse_frame(b"\x00") == []


def test_a_frame_may_declare_zero_packets():
    assert parse_frame(b"\x00\x00") == []


def test_ltp_packet_is_token_and_last_price_in_paise():
    (packet,) = parse_frame(frame(struct.pack(">II", INFY, 150_025)))
    assert packet == KitePacket(instrument_token=INFY, mode="ltp", last_price=1500.25)
    assert packet.tradable


def test_index_quote_packet_has_ohlc_in_high_low_open_close_order():
    raw = struct.pack(">7I", NIFTY_50, 2_400_050, 2_410_000, 2_390_000, 2_395_000, 2_380_000, 77)
    (packet,) = parse_frame(frame(raw))
    assert packet.mode == "quote"
    assert (packet.last_price, packet.open, packet.high, packet.low, packet.close) == (
        24000.5, 23950.0, 24100.0, 23900.0, 23800.0,
    )
    assert packet.exchange_timestamp is None
    assert packet.volume is None and packet.buy_depth is None


def test_index_full_packet_adds_the_exchange_timestamp():
    raw = struct.pack(
        ">8I", NIFTY_50, 2_400_050, 2_410_000, 2_390_000, 2_395_000, 2_380_000, 0, EXCHANGE_TS
    )
    (packet,) = parse_frame(frame(raw))
    assert packet.mode == "full"
    assert packet.exchange_timestamp == datetime.fromtimestamp(EXCHANGE_TS, tz=UTC)


def test_indices_are_not_tradable():
    (packet,) = parse_frame(frame(struct.pack(">II", NIFTY_50, 100)))
    assert packet.segment == 9 and not packet.tradable


def test_quote_packet_has_ohlc_in_open_high_low_close_order():
    raw = struct.pack(
        ">11I", INFY, 150_025, 10, 149_900, 1_234_567, 5_000, 6_000,
        148_000, 151_000, 147_500, 149_000,
    )
    (packet,) = parse_frame(frame(raw))
    assert packet == KitePacket(
        instrument_token=INFY, mode="quote", last_price=1500.25, last_quantity=10,
        average_price=1499.0, volume=1_234_567, total_buy_quantity=5_000,
        total_sell_quantity=6_000, open=1480.0, high=1510.0, low=1475.0, close=1490.0,
    )


def test_full_packet_has_oi_timestamps_and_five_levels_each_side():
    (packet,) = parse_frame(frame(full_packet_bytes()))
    assert packet.mode == "full"
    assert packet.volume == 1_234_567 and packet.close == 1490.0
    assert packet.last_trade_time == datetime.fromtimestamp(EXCHANGE_TS - 3, tz=UTC)
    assert packet.exchange_timestamp == datetime.fromtimestamp(EXCHANGE_TS, tz=UTC)
    assert (packet.oi, packet.oi_day_high, packet.oi_day_low) == (777, 900, 500)
    assert packet.buy_depth[0] == DepthEntry(price=1500.0, quantity=100, orders=3)
    assert packet.buy_depth[4] == DepthEntry(price=1499.8, quantity=104, orders=7)
    assert packet.sell_depth[0] == DepthEntry(price=1500.5, quantity=200, orders=7)
    assert packet.sell_depth[4] == DepthEntry(price=0.0, quantity=0, orders=0)
    assert len(packet.buy_depth) == len(packet.sell_depth) == 5


@pytest.mark.parametrize(
    ("token", "raw", "price"),
    [
        (INFY, 123_456, 1234.56),  # paise
        (USDINR_FUT, 834_567_890, 83.456789),  # CDS: 1e-7
        (BCD_FUT, 834_567, 83.4567),  # BCD: 1e-4
        (NIFTY_50, 2_400_050, 24000.5),
    ],
)
def test_prices_are_divided_by_the_segment_unit(token, raw, price):
    (packet,) = parse_frame(frame(struct.pack(">II", token, raw)))
    assert packet.last_price == pytest.approx(price, rel=1e-12)


def test_several_packets_of_different_modes_in_one_frame_keep_their_order():
    packets = parse_frame(frame(struct.pack(">II", NIFTY_50, 100), full_packet_bytes()))
    assert [(p.instrument_token, p.mode) for p in packets] == [(NIFTY_50, "ltp"), (INFY, "full")]


# --- malformed frames -------------------------------------------------------------------------


def test_a_frame_declaring_more_packets_than_it_has_is_truncated():
    data = struct.pack(">H", 2) + struct.pack(">H", 8) + struct.pack(">II", INFY, 1)
    with pytest.raises(KiteProtocolError, match="packet 2 of 2 has no length field"):
        parse_frame(data)


def test_a_packet_longer_than_the_frame_is_truncated():
    data = frame(full_packet_bytes())[:-10]
    with pytest.raises(KiteProtocolError, match="declares 184 bytes but only 174 remain"):
        parse_frame(data)


def test_a_half_length_field_is_truncated():
    with pytest.raises(KiteProtocolError, match="no length field"):
        parse_frame(b"\x00\x01\x00")


def test_an_unknown_packet_length_is_rejected():
    with pytest.raises(KiteProtocolError, match="unsupported length 12"):
        parse_frame(frame(bytes(12)))


def test_trailing_bytes_after_the_declared_packets_are_rejected():
    with pytest.raises(KiteProtocolError, match="3 trailing bytes"):
        parse_frame(frame(struct.pack(">II", INFY, 1)) + b"xyz")


# --- builders -------------------------------------------------------------------------------


def test_builders_produce_the_documented_sizes():
    ts = datetime.fromtimestamp(EXCHANGE_TS, tz=UTC)
    assert len(pack_ltp(INFY, 1.0)) == 8
    assert len(pack_index(NIFTY_50, 1.0, open=1, high=1, low=1, close=1)) == 28
    assert len(pack_index(NIFTY_50, 1.0, open=1, high=1, low=1, close=1, mode="full",
                          exchange_timestamp=ts)) == 32
    assert len(pack_quote(INFY, 1.0)) == 44
    assert len(pack_full(INFY, 1.0, exchange_timestamp=ts)) == 184


def test_builders_match_the_hand_packed_full_packet():
    ts = datetime.fromtimestamp(EXCHANGE_TS, tz=UTC)
    built = pack_full(
        INFY, 1500.25, last_quantity=10, average_price=1499.0, volume=1_234_567,
        total_buy_quantity=5_000, total_sell_quantity=6_000,
        open=1480.0, high=1510.0, low=1475.0, close=1490.0,
        last_trade_time=ts - timedelta(seconds=3), oi=777, oi_day_high=900, oi_day_low=500,
        exchange_timestamp=ts,
        buy_depth=[DepthEntry(1500.0 - 0.05 * i, 100 + i, 3 + i) for i in range(5)],
        sell_depth=[DepthEntry(1500.5 + 0.05 * i, 200 + i, 7 + i) for i in range(3)],
    )
    assert built == full_packet_bytes()
    assert build_frame([built]) == frame(built)


def test_builders_refuse_values_that_do_not_fit_the_wire():
    with pytest.raises(ValueError, match="last_price"):
        pack_ltp(INFY, -1.0)
    with pytest.raises(ValueError, match="volume"):
        pack_quote(INFY, 1.0, volume=2**32)
    with pytest.raises(ValueError, match="6 levels; full mode carries 5"):
        pack_full(INFY, 1.0, buy_depth=[DepthEntry(1.0, 1, 1)] * 6)
    with pytest.raises(ValueError, match="timezone-aware"):
        pack_full(INFY, 1.0, exchange_timestamp=datetime(2026, 1, 1))


# --- packets to ticks ---------------------------------------------------------------------


def test_a_full_packet_becomes_a_tick_at_exchange_time_with_depth():
    (packet,) = parse_frame(frame(full_packet_bytes()))
    tick = packet_to_tick(packet, received_at=RECEIVED_AT, tradingsymbol="INFY")
    assert tick.timestamp == datetime.fromtimestamp(EXCHANGE_TS, tz=UTC)
    assert (tick.instrument_token, tick.last_price, tick.tradingsymbol) == (INFY, 1500.25, "INFY")
    assert (tick.volume, tick.last_quantity, tick.average_price) == (1_234_567, 10, 1499.0)
    assert (tick.ohlc.open, tick.ohlc.high, tick.ohlc.low, tick.ohlc.close) == (
        1480.0, 1510.0, 1475.0, 1490.0,
    )
    assert [(lv.price, lv.quantity, lv.orders) for lv in tick.depth.buy][0] == (1500.0, 100, 3)
    assert len(tick.depth.buy) == 5


def test_empty_book_levels_are_left_out_of_the_tick():
    (packet,) = parse_frame(frame(full_packet_bytes()))
    tick = packet_to_tick(packet, received_at=RECEIVED_AT)
    assert [lv.quantity for lv in tick.depth.sell] == [200, 201, 202]


def test_a_packet_without_exchange_time_is_stamped_when_received():
    tick = packet_to_tick(parse_frame(frame(struct.pack(">II", INFY, 150_025)))[0],
                          received_at=RECEIVED_AT)
    assert tick.timestamp == RECEIVED_AT
    assert tick.volume is None and tick.ohlc is None and tick.depth is None


def test_ohlc_is_left_out_until_every_field_is_known():
    packet = parse_frame(frame(pack_quote(INFY, 10.0, open=0.0, high=10, low=10, close=9)))[0]
    assert packet_to_tick(packet, received_at=RECEIVED_AT).ohlc is None


def test_a_zero_last_price_is_not_a_tick():
    packet = parse_frame(frame(pack_ltp(INFY, 0.0)))[0]
    with pytest.raises(ValueError, match="last_price"):
        packet_to_tick(packet, received_at=RECEIVED_AT)


# --- property tests and differential test against kiteconnect ------------------------------

SEGMENTS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12]
u32 = st.integers(0, 2**32 - 1)
epoch = st.integers(1, 2**32 - 1)


@st.composite
def packets(draw) -> KitePacket:
    segment = draw(st.sampled_from(SEGMENTS))
    token = (draw(st.integers(1, 2**24 - 1)) << 8) | segment
    divisor = {3: 1e7, 6: 1e4, 12: 1e4}.get(segment, 100.0)

    def price() -> float:
        return draw(u32) / divisor

    mode = draw(st.sampled_from(["ltp", "quote", "full"]))
    if mode == "ltp":
        return KitePacket(token, "ltp", price())
    ohlc = dict(open=price(), high=price(), low=price(), close=price())
    if segment == 9:
        ts = draw(st.none() | epoch.map(lambda s: datetime.fromtimestamp(s, tz=UTC)))
        return KitePacket(token, mode, price(), **ohlc,
                          exchange_timestamp=ts if mode == "full" else None)
    quote = dict(
        last_quantity=draw(u32), average_price=price(), volume=draw(u32),
        total_buy_quantity=draw(u32), total_sell_quantity=draw(u32), **ohlc,
    )
    if mode == "quote":
        return KitePacket(token, "quote", price(), **quote)
    stamp = st.none() | epoch.map(lambda s: datetime.fromtimestamp(s, tz=UTC))
    level = st.builds(DepthEntry, price=u32.map(lambda r: r / divisor), quantity=u32,
                      orders=st.integers(0, 0xFFFF))
    side = st.lists(level, min_size=5, max_size=5).map(tuple)
    return KitePacket(
        token, "full", price(), **quote,
        last_trade_time=draw(stamp), oi=draw(u32), oi_day_high=draw(u32), oi_day_low=draw(u32),
        exchange_timestamp=draw(stamp), buy_depth=draw(side), sell_depth=draw(side),
    )


@settings(max_examples=300)
@given(st.lists(packets(), max_size=6))
def test_packing_then_parsing_gives_back_the_same_packets(original):
    assert parse_frame(build_frame([pack_packet(p) for p in original])) == original


def official_parser() -> OfficialKiteTicker:
    # Constructing kiteconnect's ticker does not connect; its parser is a plain method.
    return OfficialKiteTicker("api_key", "access_token")


def assert_same_as_kiteconnect(ours: KitePacket, theirs: dict) -> None:
    assert ours.instrument_token == theirs["instrument_token"]
    assert ours.mode == theirs["mode"]
    assert ours.tradable == theirs["tradable"]
    assert ours.last_price == theirs["last_price"]
    if "ohlc" in theirs:
        assert {k: getattr(ours, k) for k in ("open", "high", "low", "close")} == theirs["ohlc"]
    for ours_name, their_name in [
        ("last_quantity", "last_traded_quantity"), ("average_price", "average_traded_price"),
        ("volume", "volume_traded"), ("total_buy_quantity", "total_buy_quantity"),
        ("total_sell_quantity", "total_sell_quantity"), ("oi", "oi"),
        ("oi_day_high", "oi_day_high"), ("oi_day_low", "oi_day_low"),
    ]:
        assert getattr(ours, ours_name) == theirs.get(their_name)
    for name in ("exchange_timestamp", "last_trade_time"):
        # kiteconnect makes naive local-time datetimes (and the epoch for a zero field).
        if name in theirs:
            ours_ts = getattr(ours, name)
            assert (ours_ts.timestamp() if ours_ts else 0) == theirs[name].timestamp()
    if "depth" in theirs:
        as_dicts = lambda side: [  # noqa: E731
            {"quantity": e.quantity, "price": e.price, "orders": e.orders} for e in side
        ]
        assert as_dicts(ours.buy_depth) == theirs["depth"]["buy"]
        assert as_dicts(ours.sell_depth) == theirs["depth"]["sell"]
    else:
        assert ours.buy_depth is None and ours.sell_depth is None


def test_the_hand_packed_frame_parses_like_kiteconnect():
    data = frame(
        struct.pack(">II", USDINR_FUT, 834_567_890),
        struct.pack(">8I", NIFTY_50, 2_400_050, 2_410_000, 2_390_000, 2_395_000, 2_380_000, 0,
                    EXCHANGE_TS),
        full_packet_bytes(),
    )
    ours, theirs = parse_frame(data), official_parser()._parse_binary(data)
    assert len(ours) == len(theirs) == 3
    for a, b in zip(ours, theirs):
        assert_same_as_kiteconnect(a, b)


@settings(max_examples=300)
@given(st.lists(packets(), min_size=1, max_size=6))
def test_any_valid_frame_parses_like_kiteconnect(original):
    data = build_frame([pack_packet(p) for p in original])
    ours, theirs = parse_frame(data), official_parser()._parse_binary(data)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert_same_as_kiteconnect(a, b)
