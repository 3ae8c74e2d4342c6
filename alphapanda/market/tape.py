"""Replay tapes: JSONL files of recorded ticks, read line by line and paced on their timestamps.

Each line is either a ``market_tick`` payload (``{"instrument_token": ..., "last_price": ...}``)
or a whole envelope (``{"id": ..., "type": "market_tick", "data": {...}, ...}``); a line with a
``type`` or ``data`` key is read as an envelope. A line that is neither comes back as an
:class:`InvalidTapeLine` with the reason, so the replayer can report it or dead-letter it
instead of dropping it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from pydantic import ValidationError

from alphapanda.models import EventType, MarketTick
from alphapanda.models.wire import MAX_EVENT_BYTES, PoisonMessage, decode_event

__all__ = ["TapeTick", "InvalidTapeLine", "TapeLine", "PacedLine", "read_tape", "parse_line", "pace"]


@dataclass(frozen=True, slots=True)
class TapeTick:
    """A valid line: the tick, its key (the token as a decimal string) and the envelope id if any."""

    line_no: int
    key: str
    tick: MarketTick
    envelope_id: str | None
    raw: str


@dataclass(frozen=True, slots=True)
class InvalidTapeLine:
    """A line that is not a valid tick; ``error_type`` uses the DLQ vocabulary of the wire codec."""

    line_no: int
    raw: str
    error_type: str
    reason: str


TapeLine = TapeTick | InvalidTapeLine


def _describe(exc: ValidationError, limit: int = 5) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:limit]:
        loc = ".".join(str(x) for x in err["loc"]) or "<root>"
        parts.append(f"{loc}: {err['msg']}")
    if exc.error_count() > limit:
        parts.append(f"... and {exc.error_count() - limit} more")
    return "; ".join(parts)


def parse_line(line_no: int, raw: str) -> TapeLine:
    """One tape line (without its newline) as a tick or as the reason it is not one."""
    if len(raw) > MAX_EVENT_BYTES:
        return InvalidTapeLine(
            line_no, raw, "MessageTooLarge", f"line is {len(raw)} characters; the limit is {MAX_EVENT_BYTES}"
        )
    try:
        # Python's json accepts NaN/Infinity; the models below reject them as values.
        obj = json.loads(raw)
    except ValueError as exc:
        return InvalidTapeLine(line_no, raw, "DecodeError", f"not valid JSON: {exc}")
    if not isinstance(obj, dict):
        return InvalidTapeLine(
            line_no, raw, "DecodeError", f"expected a JSON object, found {type(obj).__name__}"
        )
    if "type" in obj or "data" in obj:
        try:
            event = decode_event(raw, EventType.MARKET_TICK)
        except PoisonMessage as exc:
            return InvalidTapeLine(line_no, raw, exc.error_type, str(exc))
        tick, envelope_id = event.data, event.id
    else:
        try:
            tick = MarketTick.model_validate_json(raw)
        except ValidationError as exc:
            return InvalidTapeLine(line_no, raw, "ValidationError", _describe(exc))
        envelope_id = None
    return TapeTick(line_no, str(tick.instrument_token), tick, envelope_id, raw)


def read_tape(path: Path | str) -> Iterator[TapeLine]:
    """Every non-blank line of the tape at ``path``, in order, numbered from 1.

    Lines that are not UTF-8 come back as invalid lines too (the rest of the tape is still read).
    """
    with open(path, "rb") as tape:
        for line_no, data in enumerate(tape, start=1):
            try:
                raw = data.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                text = data.decode("utf-8", errors="replace").rstrip("\r\n")
                yield InvalidTapeLine(line_no, text, "DecodeError", f"not UTF-8: {exc.reason}")
                continue
            if raw.strip():
                yield parse_line(line_no, raw)


class PacedLine(NamedTuple):
    """A tape line with when to publish it.

    ``wait``: seconds to wait after publishing the previous line. ``offset``: seconds after the
    start of the replay (a scheduler that sleeps until ``start + offset`` does not drift).
    """

    wait: float
    offset: float
    line: TapeLine


def pace(
    lines: Iterable[TapeLine], speed: float, max_wait: float | None = None
) -> Iterator[PacedLine]:
    """Waits that replay ``lines`` at ``speed`` times the pace of their tick timestamps.

    ``speed`` 0 means no waiting at all; 1 is real time; 2 twice as fast. The clock is the latest
    tick timestamp seen, so an out-of-order tick and an invalid line are published at once and
    never move the clock back. ``max_wait`` caps a single wait (e.g. the night between sessions).
    Pure: it computes the waits and never sleeps.
    """
    if not (math.isfinite(speed) and speed >= 0):
        raise ValueError("speed must be a finite number >= 0")
    if max_wait is not None and not max_wait >= 0:
        raise ValueError("max_wait must be >= 0")
    clock: float | None = None
    offset = 0.0
    for line in lines:
        wait = 0.0
        if isinstance(line, TapeTick):
            at = line.tick.timestamp.timestamp()
            if clock is None:
                clock = at
            elif at > clock:
                if speed > 0:
                    wait = (at - clock) / speed
                    if max_wait is not None:
                        wait = min(wait, max_wait)
                clock = at
        offset += wait
        yield PacedLine(wait, offset, line)
