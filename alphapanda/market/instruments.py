"""The Kite instrument master: what an instrument token is (symbol, exchange, tick and lot size).

Kite's ``GET /instruments`` returns one CSV of every instrument; ticks carry only the numeric
token, so the master is how a token gets its trading symbol and how a strategy's
``NSE:INFY`` becomes a token. A small sample master ships with the package for local runs.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import Iterable, Iterator

__all__ = [
    "INSTRUMENT_MASTER_COLUMNS",
    "Instrument",
    "InstrumentMaster",
    "InstrumentMasterError",
    "UnknownInstrumentError",
    "parse_instrument_master",
    "load_instrument_master",
]

INSTRUMENT_MASTER_COLUMNS = (
    "instrument_token", "exchange_token", "tradingsymbol", "name", "last_price", "expiry",
    "strike", "tick_size", "lot_size", "instrument_type", "segment", "exchange",
)
_REQUIRED_COLUMNS = tuple(c for c in INSTRUMENT_MASTER_COLUMNS if c != "last_price")


class InstrumentMasterError(ValueError):
    """The instrument master file is not a valid Kite instrument CSV; names the line."""


class UnknownInstrumentError(KeyError):
    """A token or symbol that the instrument master does not list."""


@dataclass(frozen=True, slots=True)
class Instrument:
    """One row of the master. Indices have segment ``INDICES`` and a lot size of 0."""

    instrument_token: int
    exchange_token: int
    tradingsymbol: str
    name: str
    exchange: str
    segment: str
    instrument_type: str
    tick_size: float
    lot_size: int
    expiry: date | None = None
    strike: float = 0.0

    @property
    def is_index(self) -> bool:
        return self.segment == "INDICES"


class InstrumentMaster:
    """An immutable set of instruments with O(1) lookup by token and by (exchange, symbol)."""

    def __init__(self, instruments: Iterable[Instrument]) -> None:
        by_token: dict[int, Instrument] = {}
        by_symbol: dict[tuple[str, str], Instrument] = {}
        for instrument in instruments:
            symbol_key = (instrument.exchange, instrument.tradingsymbol)
            if instrument.instrument_token in by_token:
                raise InstrumentMasterError(
                    f"duplicate instrument_token {instrument.instrument_token}"
                )
            if symbol_key in by_symbol:
                raise InstrumentMasterError(f"duplicate symbol {':'.join(symbol_key)}")
            by_token[instrument.instrument_token] = instrument
            by_symbol[symbol_key] = instrument
        self._by_token = by_token
        self._by_symbol = by_symbol

    def by_token(self, instrument_token: int) -> Instrument:
        try:
            return self._by_token[instrument_token]
        except KeyError:
            raise UnknownInstrumentError(f"unknown instrument_token {instrument_token}") from None

    def by_symbol(self, exchange: str, tradingsymbol: str) -> Instrument:
        try:
            return self._by_symbol[(exchange, tradingsymbol)]
        except KeyError:
            raise UnknownInstrumentError(f"unknown instrument {exchange}:{tradingsymbol}") from None

    def get(self, instrument_token: int) -> Instrument | None:
        """The instrument of a token, or ``None`` when the master does not list it."""
        return self._by_token.get(instrument_token)

    def __contains__(self, instrument_token: object) -> bool:
        return instrument_token in self._by_token

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self._by_token.values())

    def __len__(self) -> int:
        return len(self._by_token)


def _row_to_instrument(row: dict[str, str]) -> Instrument:
    def integer(column: str) -> int:
        value = int(row[column])
        if value < 0:
            raise ValueError(f"{column} must not be negative: {value}")
        return value

    def number(column: str) -> float:
        value = float(row[column] or 0)
        if not 0 <= value < float("inf"):
            raise ValueError(f"{column} must be a finite number >= 0: {row[column]!r}")
        return value

    token = integer("instrument_token")
    if token == 0:
        raise ValueError("instrument_token must be positive")
    symbol, exchange = row["tradingsymbol"].strip(), row["exchange"].strip()
    if not symbol or not exchange:
        raise ValueError("tradingsymbol and exchange must not be empty")
    expiry = row["expiry"].strip()
    return Instrument(
        instrument_token=token,
        exchange_token=integer("exchange_token"),
        tradingsymbol=symbol,
        name=row["name"].strip(),
        exchange=exchange,
        segment=row["segment"].strip(),
        instrument_type=row["instrument_type"].strip(),
        tick_size=number("tick_size"),
        lot_size=integer("lot_size"),
        expiry=date.fromisoformat(expiry) if expiry else None,
        strike=number("strike"),
    )


def parse_instrument_master(lines: Iterable[str], *, source: str = "<instruments>") -> InstrumentMaster:
    """Parse the CSV text of ``GET /instruments`` (header first); ``source`` names it in errors."""
    reader = csv.DictReader(lines)
    missing = [c for c in _REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise InstrumentMasterError(f"{source}:1: header lacks column(s) {', '.join(missing)}")
    instruments: list[Instrument] = []
    seen_tokens: dict[int, int] = {}
    seen_symbols: dict[tuple[str, str], int] = {}
    for row in reader:
        line = reader.line_num
        if None in row or any(row[c] is None for c in _REQUIRED_COLUMNS):
            raise InstrumentMasterError(
                f"{source}:{line}: expected {len(reader.fieldnames)} fields"  # type: ignore[arg-type]
            )
        try:
            instrument = _row_to_instrument(row)
        except ValueError as exc:
            raise InstrumentMasterError(f"{source}:{line}: {exc}") from None
        symbol_key = (instrument.exchange, instrument.tradingsymbol)
        if instrument.instrument_token in seen_tokens:
            raise InstrumentMasterError(
                f"{source}:{line}: instrument_token {instrument.instrument_token} already on "
                f"line {seen_tokens[instrument.instrument_token]}"
            )
        if symbol_key in seen_symbols:
            raise InstrumentMasterError(
                f"{source}:{line}: {':'.join(symbol_key)} already on line {seen_symbols[symbol_key]}"
            )
        seen_tokens[instrument.instrument_token] = line
        seen_symbols[symbol_key] = line
        instruments.append(instrument)
    return InstrumentMaster(instruments)


def load_instrument_master(path: str | os.PathLike[str] | None = None) -> InstrumentMaster:
    """Load an instrument master CSV; without ``path``, the sample master bundled with the package."""
    if path is None:
        text = resources.files("alphapanda.market").joinpath("data/instruments.csv").read_text("utf-8")
        return parse_instrument_master(io.StringIO(text, newline=""), source="bundled instruments.csv")
    with open(path, encoding="utf-8", newline="") as handle:
        return parse_instrument_master(handle, source=os.fspath(path))
