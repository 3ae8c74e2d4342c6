"""The KiteTicker binary wire format: frames of packets, parsed into :class:`KitePacket`.

A server-to-client binary frame is ``uint16 n_packets`` followed by ``n`` times ``uint16 length``
and ``length`` packet bytes; every field is big-endian. The packet length says what it is:

=====  ==========================================================================
8      LTP: token, last price
28     index quote: token, last price, high, low, open, close, change (ignored)
32     index full: the 28 bytes plus the exchange timestamp
44     quote: token, last price, last qty, avg price, volume, buy qty, sell qty, o/h/l/c
184    full: the 44 bytes, last trade time, OI (3 fields), exchange timestamp, 5+5 depth
=====  ==========================================================================

Prices are integers in the segment's smallest unit (see :func:`price_divisor`). This module
also builds frames, for the local test server and for tests; building and parsing are exact
inverses for prices that are whole multiples of the segment's unit.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Sequence

from alphapanda.models import Depth, DepthLevel, MarketTick, Ohlc

__all__ = [
    "KiteProtocolError",
    "PacketMode",
    "SEGMENT_NSE",
    "SEGMENT_NFO",
    "SEGMENT_CDS",
    "SEGMENT_BSE",
    "SEGMENT_BFO",
    "SEGMENT_BCD",
    "SEGMENT_MCX",
    "SEGMENT_MCXSX",
    "SEGMENT_INDICES",
    "SEGMENT_NCO",
    "DEPTH_LEVELS",
    "segment_of",
    "price_divisor",
    "DepthEntry",
    "KitePacket",
    "parse_frame",
    "packet_to_tick",
    "build_frame",
    "pack_ltp",
    "pack_index",
    "pack_quote",
    "pack_full",
    "pack_packet",
]

PacketMode = Literal["ltp", "quote", "full"]

# Segment codes: the low byte of an instrument token (kiteconnect's EXCHANGE_MAP).
SEGMENT_NSE = 1
SEGMENT_NFO = 2
SEGMENT_CDS = 3
SEGMENT_BSE = 4
SEGMENT_BFO = 5
SEGMENT_BCD = 6
SEGMENT_MCX = 7
SEGMENT_MCXSX = 8
SEGMENT_INDICES = 9
SEGMENT_NCO = 12

DEPTH_LEVELS = 5  # per side, in full mode

LTP_LENGTH = 8
INDEX_QUOTE_LENGTH = 28
INDEX_FULL_LENGTH = 32
QUOTE_LENGTH = 44
FULL_LENGTH = 184

_U16 = struct.Struct(">H")
_LTP = struct.Struct(">II")
_INDEX_QUOTE = struct.Struct(">7I")
_INDEX_FULL = struct.Struct(">8I")
_QUOTE = struct.Struct(">11I")
_FULL_HEAD = struct.Struct(">16I")
_DEPTH_ENTRY = struct.Struct(">IIH2x")
_DEPTH_OFFSET = 64
_U32_MAX = 2**32 - 1


class KiteProtocolError(ValueError):
    """A binary frame that does not follow the KiteTicker format (truncated, overrun, unknown)."""


def segment_of(instrument_token: int) -> int:
    """The exchange segment code of a token (its low byte)."""
    return instrument_token & 0xFF


def price_divisor(segment: int) -> float:
    """What an integer price of ``segment`` is divided by: currency futures quote in 1e-7,
    BSE currency and NCDEX commodities in 1e-4 (as kiteconnect does), everything else in paise."""
    if segment == SEGMENT_CDS:
        return 10_000_000.0
    if segment in (SEGMENT_BCD, SEGMENT_NCO):
        return 10_000.0
    return 100.0


@dataclass(frozen=True, slots=True)
class DepthEntry:
    """One level of the order book as sent in full mode."""

    price: float
    quantity: int
    orders: int


@dataclass(frozen=True, slots=True)
class KitePacket:
    """One decoded ticker packet; fields a mode does not carry are ``None``.

    Index packets (segment 9) carry last price and OHLC only (plus the exchange timestamp in
    full mode); ``buy_depth``/``sell_depth`` are present only in full mode of tradable
    instruments. A timestamp field that is zero on the wire is ``None``.
    """

    instrument_token: int
    mode: PacketMode
    last_price: float
    last_quantity: int | None = None
    average_price: float | None = None
    volume: int | None = None
    total_buy_quantity: int | None = None
    total_sell_quantity: int | None = None
    open: float | None = None
    high: float | None = None
    low: float | None = None
    close: float | None = None
    last_trade_time: datetime | None = None
    oi: int | None = None
    oi_day_high: int | None = None
    oi_day_low: int | None = None
    exchange_timestamp: datetime | None = None
    buy_depth: tuple[DepthEntry, ...] | None = None
    sell_depth: tuple[DepthEntry, ...] | None = None

    @property
    def segment(self) -> int:
        return segment_of(self.instrument_token)

    @property
    def is_index(self) -> bool:
        return self.segment == SEGMENT_INDICES

    @property
    def tradable(self) -> bool:
        """Indices are market data only: no orders can be placed on them."""
        return not self.is_index


# ---------------------------------------------------------------------------------------------
# Parsing


def _timestamp(seconds: int) -> datetime | None:
    return datetime.fromtimestamp(seconds, tz=UTC) if seconds else None


def _parse_packet(data: bytes, offset: int, length: int, where: str) -> KitePacket:
    if length == LTP_LENGTH:
        token, ltp = _LTP.unpack_from(data, offset)
        return KitePacket(token, "ltp", ltp / price_divisor(token & 0xFF))
    if length == INDEX_QUOTE_LENGTH or length == INDEX_FULL_LENGTH:
        if length == INDEX_FULL_LENGTH:
            token, ltp, high, low, open_, close, _change, ts = _INDEX_FULL.unpack_from(data, offset)
            mode: PacketMode = "full"
        else:
            token, ltp, high, low, open_, close, _change = _INDEX_QUOTE.unpack_from(data, offset)
            ts, mode = 0, "quote"
        d = price_divisor(token & 0xFF)
        return KitePacket(
            token, mode, ltp / d,
            open=open_ / d, high=high / d, low=low / d, close=close / d,
            exchange_timestamp=_timestamp(ts),
        )
    if length == QUOTE_LENGTH:
        token, ltp, ltq, atp, vol, tbq, tsq, open_, high, low, close = _QUOTE.unpack_from(data, offset)
        d = price_divisor(token & 0xFF)
        return KitePacket(
            token, "quote", ltp / d,
            last_quantity=ltq, average_price=atp / d, volume=vol,
            total_buy_quantity=tbq, total_sell_quantity=tsq,
            open=open_ / d, high=high / d, low=low / d, close=close / d,
        )
    if length == FULL_LENGTH:
        (token, ltp, ltq, atp, vol, tbq, tsq, open_, high, low, close,
         ltt, oi, oi_high, oi_low, ts) = _FULL_HEAD.unpack_from(data, offset)
        d = price_divisor(token & 0xFF)
        levels = tuple(
            DepthEntry(price=price / d, quantity=qty, orders=orders)
            for qty, price, orders in (
                _DEPTH_ENTRY.unpack_from(data, offset + _DEPTH_OFFSET + 12 * i)
                for i in range(2 * DEPTH_LEVELS)
            )
        )
        return KitePacket(
            token, "full", ltp / d,
            last_quantity=ltq, average_price=atp / d, volume=vol,
            total_buy_quantity=tbq, total_sell_quantity=tsq,
            open=open_ / d, high=high / d, low=low / d, close=close / d,
            last_trade_time=_timestamp(ltt), oi=oi, oi_day_high=oi_high, oi_day_low=oi_low,
            exchange_timestamp=_timestamp(ts),
            buy_depth=levels[:DEPTH_LEVELS], sell_depth=levels[DEPTH_LEVELS:],
        )
    raise KiteProtocolError(
        f"{where} has unsupported length {length} "
        f"(expected {LTP_LENGTH}, {INDEX_QUOTE_LENGTH}, {INDEX_FULL_LENGTH}, {QUOTE_LENGTH} "
        f"or {FULL_LENGTH})"
    )


def parse_frame(data: bytes) -> list[KitePacket]:
    """Decode one binary websocket frame into its packets, in order.

    A frame shorter than 2 bytes is a heartbeat and yields no packets. A frame whose declared
    packets do not fit exactly into its bytes raises :class:`KiteProtocolError`, since a
    guessed price is worse than none.
    """
    size = len(data)
    if size < 2:
        return []
    (count,) = _U16.unpack_from(data, 0)
    packets: list[KitePacket] = []
    offset = 2
    for index in range(count):
        where = f"packet {index + 1} of {count}"
        if offset + 2 > size:
            raise KiteProtocolError(
                f"frame truncated: {where} has no length field at byte {offset} "
                f"(frame is {size} bytes)"
            )
        (length,) = _U16.unpack_from(data, offset)
        offset += 2
        if offset + length > size:
            raise KiteProtocolError(
                f"frame truncated: {where} declares {length} bytes but only "
                f"{size - offset} remain (frame is {size} bytes)"
            )
        packets.append(_parse_packet(data, offset, length, where))
        offset += length
    if offset != size:
        raise KiteProtocolError(
            f"frame has {size - offset} trailing bytes after its {count} declared packets"
        )
    return packets


def packet_to_tick(
    packet: KitePacket, *, received_at: datetime, tradingsymbol: str | None = None
) -> MarketTick:
    """The ``market_tick`` payload of a packet.

    The event time is the exchange timestamp when the packet carries one (full mode), else
    ``received_at`` (an aware datetime). OHLC is left out while any of it is still zero (before
    the first trade of the day); empty book levels (quantity 0) are left out, so the first
    level of each side is always a real quote. Raises ``ValueError`` (pydantic's
    ``ValidationError``) for a packet that is not a valid tick, e.g. a last price of zero.
    """
    ohlc = None
    if packet.open and packet.high and packet.low and packet.close:
        ohlc = Ohlc(open=packet.open, high=packet.high, low=packet.low, close=packet.close)
    depth = None
    if packet.buy_depth is not None or packet.sell_depth is not None:
        depth = Depth(
            buy=[_depth_level(e) for e in packet.buy_depth or () if e.quantity > 0],
            sell=[_depth_level(e) for e in packet.sell_depth or () if e.quantity > 0],
        )
    return MarketTick(
        instrument_token=packet.instrument_token,
        last_price=packet.last_price,
        timestamp=packet.exchange_timestamp or received_at,
        volume=packet.volume,
        last_quantity=packet.last_quantity,
        average_price=packet.average_price,
        ohlc=ohlc,
        depth=depth,
        tradingsymbol=tradingsymbol,
    )


def _depth_level(entry: DepthEntry) -> DepthLevel:
    return DepthLevel(price=entry.price, quantity=entry.quantity, orders=entry.orders)


# ---------------------------------------------------------------------------------------------
# Building (the local test server and tests speak the same format)


def _u32(value: int, field: str) -> int:
    if not isinstance(value, int) or not 0 <= value <= _U32_MAX:
        raise ValueError(f"{field} must be an integer in [0, 2**32): {value!r}")
    return value


def _price(value: float, divisor: float, field: str) -> int:
    if not math.isfinite(value):
        raise ValueError(f"{field} must be finite: {value!r}")
    return _u32(round(value * divisor), field)


def _epoch(value: datetime | None, field: str) -> int:
    if value is None:
        return 0
    if value.tzinfo is None:
        raise ValueError(f"{field} must be timezone-aware: {value!r}")
    return _u32(math.floor(value.timestamp()), field)


def build_frame(packets: Sequence[bytes]) -> bytes:
    """A binary frame carrying ``packets`` (each already packed)."""
    if len(packets) > 0xFFFF:
        raise ValueError(f"a frame holds at most 65535 packets, got {len(packets)}")
    parts = [_U16.pack(len(packets))]
    for packet in packets:
        if len(packet) > 0xFFFF:
            raise ValueError(f"a packet is at most 65535 bytes, got {len(packet)}")
        parts.append(_U16.pack(len(packet)))
        parts.append(bytes(packet))
    return b"".join(parts)


def pack_ltp(instrument_token: int, last_price: float) -> bytes:
    """An 8-byte LTP packet."""
    d = price_divisor(segment_of(instrument_token))
    return _LTP.pack(_u32(instrument_token, "instrument_token"), _price(last_price, d, "last_price"))


def pack_index(
    instrument_token: int,
    last_price: float,
    *,
    open: float,
    high: float,
    low: float,
    close: float,
    mode: Literal["quote", "full"] = "quote",
    exchange_timestamp: datetime | None = None,
) -> bytes:
    """An index packet: 28 bytes in quote mode, 32 (with the exchange timestamp) in full mode.

    The price-change field is written as zero; readers (ours and kiteconnect) ignore it.
    """
    if mode == "quote" and exchange_timestamp is not None:
        raise ValueError("an index quote packet has no exchange timestamp; use mode='full'")
    d = price_divisor(segment_of(instrument_token))
    fields = [
        _u32(instrument_token, "instrument_token"),
        _price(last_price, d, "last_price"),
        _price(high, d, "high"),
        _price(low, d, "low"),
        _price(open, d, "open"),
        _price(close, d, "close"),
        0,
    ]
    if mode == "full":
        return _INDEX_FULL.pack(*fields, _epoch(exchange_timestamp, "exchange_timestamp"))
    if mode == "quote":
        return _INDEX_QUOTE.pack(*fields)
    raise ValueError(f"index packets are 'quote' or 'full', not {mode!r}")


def _quote_fields(
    instrument_token: int, last_price: float, last_quantity: int, average_price: float,
    volume: int, total_buy_quantity: int, total_sell_quantity: int,
    open: float, high: float, low: float, close: float,
) -> list[int]:
    d = price_divisor(segment_of(instrument_token))
    return [
        _u32(instrument_token, "instrument_token"),
        _price(last_price, d, "last_price"),
        _u32(last_quantity, "last_quantity"),
        _price(average_price, d, "average_price"),
        _u32(volume, "volume"),
        _u32(total_buy_quantity, "total_buy_quantity"),
        _u32(total_sell_quantity, "total_sell_quantity"),
        _price(open, d, "open"),
        _price(high, d, "high"),
        _price(low, d, "low"),
        _price(close, d, "close"),
    ]


def pack_quote(
    instrument_token: int,
    last_price: float,
    *,
    last_quantity: int = 0,
    average_price: float = 0.0,
    volume: int = 0,
    total_buy_quantity: int = 0,
    total_sell_quantity: int = 0,
    open: float = 0.0,
    high: float = 0.0,
    low: float = 0.0,
    close: float = 0.0,
) -> bytes:
    """A 44-byte quote packet of a tradable instrument."""
    return _QUOTE.pack(*_quote_fields(
        instrument_token, last_price, last_quantity, average_price, volume,
        total_buy_quantity, total_sell_quantity, open, high, low, close,
    ))


def pack_full(
    instrument_token: int,
    last_price: float,
    *,
    last_quantity: int = 0,
    average_price: float = 0.0,
    volume: int = 0,
    total_buy_quantity: int = 0,
    total_sell_quantity: int = 0,
    open: float = 0.0,
    high: float = 0.0,
    low: float = 0.0,
    close: float = 0.0,
    last_trade_time: datetime | None = None,
    oi: int = 0,
    oi_day_high: int = 0,
    oi_day_low: int = 0,
    exchange_timestamp: datetime | None = None,
    buy_depth: Sequence[DepthEntry] = (),
    sell_depth: Sequence[DepthEntry] = (),
) -> bytes:
    """A 184-byte full packet; each depth side holds up to 5 levels, padded with empty ones."""
    d = price_divisor(segment_of(instrument_token))
    head = _FULL_HEAD.pack(
        *_quote_fields(
            instrument_token, last_price, last_quantity, average_price, volume,
            total_buy_quantity, total_sell_quantity, open, high, low, close,
        ),
        _epoch(last_trade_time, "last_trade_time"),
        _u32(oi, "oi"),
        _u32(oi_day_high, "oi_day_high"),
        _u32(oi_day_low, "oi_day_low"),
        _epoch(exchange_timestamp, "exchange_timestamp"),
    )
    depth = bytearray()
    for side, levels in (("buy_depth", buy_depth), ("sell_depth", sell_depth)):
        if len(levels) > DEPTH_LEVELS:
            raise ValueError(f"{side} has {len(levels)} levels; full mode carries {DEPTH_LEVELS}")
        for level in levels:
            if not 0 <= level.orders <= 0xFFFF:
                raise ValueError(f"{side} orders must fit in uint16: {level.orders!r}")
            depth += _DEPTH_ENTRY.pack(
                _u32(level.quantity, f"{side} quantity"),
                _price(level.price, d, f"{side} price"),
                level.orders,
            )
        depth += bytes(_DEPTH_ENTRY.size * (DEPTH_LEVELS - len(levels)))
    return head + bytes(depth)


def pack_packet(packet: KitePacket) -> bytes:
    """The wire bytes of a packet: the inverse of parsing, choosing the layout by mode and
    segment (index tokens use the index layouts in quote and full mode)."""
    p = packet
    if p.mode == "ltp":
        return pack_ltp(p.instrument_token, p.last_price)
    if p.is_index:
        return pack_index(
            p.instrument_token, p.last_price,
            open=p.open or 0.0, high=p.high or 0.0, low=p.low or 0.0, close=p.close or 0.0,
            mode=p.mode, exchange_timestamp=p.exchange_timestamp,
        )
    common = dict(
        last_quantity=p.last_quantity or 0, average_price=p.average_price or 0.0,
        volume=p.volume or 0, total_buy_quantity=p.total_buy_quantity or 0,
        total_sell_quantity=p.total_sell_quantity or 0,
        open=p.open or 0.0, high=p.high or 0.0, low=p.low or 0.0, close=p.close or 0.0,
    )
    if p.mode == "quote":
        return pack_quote(p.instrument_token, p.last_price, **common)
    if p.mode == "full":
        return pack_full(
            p.instrument_token, p.last_price, **common,
            last_trade_time=p.last_trade_time, oi=p.oi or 0, oi_day_high=p.oi_day_high or 0,
            oi_day_low=p.oi_day_low or 0, exchange_timestamp=p.exchange_timestamp,
            buy_depth=p.buy_depth or (), sell_depth=p.sell_depth or (),
        )
    raise ValueError(f"unknown packet mode {p.mode!r}")
