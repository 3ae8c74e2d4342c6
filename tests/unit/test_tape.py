"""Replay tapes: valid and invalid lines, keys, envelope ids, and pacing on tick timestamps."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from alphapanda.market.tape import InvalidTapeLine, TapeTick, pace, parse_line, read_tape
from alphapanda.models import Envelope, EventType, MarketTick
from alphapanda.models.wire import encode_event

T0 = datetime(2026, 11, 23, 3, 45, tzinfo=timezone.utc)


def payload(token: int = 408065, price: float = 1500.0, second: float = 0.0) -> dict:
    return {
        "instrument_token": token,
        "last_price": price,
        "timestamp": (T0 + timedelta(seconds=second)).isoformat(),
    }


def envelope_line(token: int = 738561, price: float = 1300.0, event_id: str = "ev-1") -> str:
    tick = MarketTick.model_validate(payload(token, price))
    event = Envelope[MarketTick](
        id=event_id, type=EventType.MARKET_TICK, correlation_id=event_id, source="recorder", data=tick
    )
    return encode_event(event).decode()


@pytest.fixture
def tape(tmp_path):
    lines = [
        json.dumps(payload(408065, 1500.0)),                         # 1 payload
        envelope_line(738561, 1300.0, "ev-1"),                       # 2 envelope
        "{not json",                                                 # 3
        json.dumps(payload(408065, -1.0)),                           # 4 price <= 0
        '{"instrument_token": 408065, "last_price": NaN, "timestamp": "2026-11-23T03:45:00Z"}',  # 5
        json.dumps({"last_price": 10.0, "timestamp": T0.isoformat()}),  # 6 no token
        "[1, 2, 3]",                                                 # 7 not an object
        "",                                                          # 8 blank: skipped
        envelope_line().replace('"type":"market_tick"', '"type":"order_filled"'),  # 9 not a tick
        json.dumps(payload(2953217, 3500.0, 1.0)),                   # 10
    ]
    path = tmp_path / "tape.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_read_tape_numbers_lines_and_skips_blank_ones(tape):
    assert [line.line_no for line in read_tape(tape)] == [1, 2, 3, 4, 5, 6, 7, 9, 10]


def test_valid_lines_are_keyed_by_the_token_as_a_decimal_string(tape):
    valid = [line for line in read_tape(tape) if isinstance(line, TapeTick)]
    assert [(v.line_no, v.key, v.tick.last_price) for v in valid] == [
        (1, "408065", 1500.0),
        (2, "738561", 1300.0),
        (10, "2953217", 3500.0),
    ]


def test_an_envelope_line_keeps_its_event_id_and_a_payload_line_has_none(tape):
    valid = {v.line_no: v for v in read_tape(tape) if isinstance(v, TapeTick)}
    assert valid[2].envelope_id == "ev-1"
    assert valid[1].envelope_id is None


def test_valid_lines_keep_their_raw_text(tape):
    first = next(iter(read_tape(tape)))
    assert json.loads(first.raw) == payload(408065, 1500.0)


def test_invalid_lines_say_why(tape):
    invalid = {line.line_no: line for line in read_tape(tape) if isinstance(line, InvalidTapeLine)}
    assert {n: line.error_type for n, line in invalid.items()} == {
        3: "DecodeError",
        4: "ValidationError",
        5: "ValidationError",
        6: "ValidationError",
        7: "DecodeError",
        9: "ContractError",
    }
    assert "not valid JSON" in invalid[3].reason
    assert "last_price" in invalid[4].reason
    assert "last_price" in invalid[5].reason
    assert "instrument_token: Field required" in invalid[6].reason
    assert "expected a JSON object, found list" in invalid[7].reason
    assert invalid[3].raw == "{not json"


def test_an_invalid_envelope_payload_is_reported_with_its_field():
    line = envelope_line().replace('"last_price":1300.0', '"last_price":0')
    result = parse_line(1, line)
    assert isinstance(result, InvalidTapeLine)
    assert result.error_type == "ValidationError" and "data.last_price" in result.reason


def test_a_line_that_is_not_utf8_is_reported_and_the_tape_continues(tmp_path):
    path = tmp_path / "bytes.jsonl"
    path.write_bytes(b"\xff\xfe garbage\n" + json.dumps(payload()).encode() + b"\n")
    first, second = read_tape(path)
    assert isinstance(first, InvalidTapeLine) and first.error_type == "DecodeError"
    assert isinstance(second, TapeTick)


def test_windows_line_endings_are_accepted(tmp_path):
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(json.dumps(payload()).encode() + b"\r\n")
    [line] = read_tape(path)
    assert isinstance(line, TapeTick) and not line.raw.endswith("\r")


# Pacing ------------------------------------------------------------------------------------

def ticks_at(*seconds: float) -> list[TapeTick]:
    return [parse_line(i + 1, json.dumps(payload(second=s))) for i, s in enumerate(seconds)]


def test_speed_one_waits_the_gaps_between_tick_timestamps():
    paced = list(pace(ticks_at(0, 0.5, 2.0, 2.0), speed=1))
    assert [p.wait for p in paced] == [0, 0.5, 1.5, 0]
    assert [p.offset for p in paced] == [0, 0.5, 2.0, 2.0]


def test_speed_two_waits_half_as_long():
    assert [p.wait for p in pace(ticks_at(0, 1, 3), speed=2)] == [0, 0.5, 1.0]


def test_speed_zero_never_waits():
    assert [p.wait for p in pace(ticks_at(0, 10, 20), speed=0)] == [0, 0, 0]


def test_out_of_order_ticks_go_at_once_and_do_not_rewind_the_clock():
    assert [p.wait for p in pace(ticks_at(0, 5, 3, 6), speed=1)] == [0, 5, 0, 1]


def test_invalid_lines_do_not_wait():
    lines = [*ticks_at(0), InvalidTapeLine(2, "x", "DecodeError", "bad"), *ticks_at(4)]
    assert [p.wait for p in pace(lines, speed=1)] == [0, 0, 4]


def test_max_wait_caps_a_long_gap():
    assert [p.wait for p in pace(ticks_at(0, 3600, 3601), speed=1, max_wait=2)] == [0, 2, 1]


def test_pace_keeps_the_lines_in_order():
    lines = ticks_at(0, 1, 2)
    assert [p.line for p in pace(lines, speed=1)] == lines


@pytest.mark.parametrize("speed", [-1, float("nan"), float("inf")])
def test_a_speed_must_be_finite_and_not_negative(speed):
    with pytest.raises(ValueError):
        list(pace(ticks_at(0), speed=speed))
