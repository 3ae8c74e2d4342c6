"""Bytes to validated envelopes and back: the edge where bad input is caught and classified."""

import json
import math

import pytest

from alphapanda.models import EventType, MarketTick, TradingSignal
from alphapanda.models.wire import (
    MAX_EVENT_BYTES, ContractViolation, InvalidEvent, MalformedMessage, MessageTooLarge, decode_event, encode_event,
)


def tick_event(**data):
    payload = {"instrument_token": 256265, "last_price": 101.5, "timestamp": "2026-11-21T09:15:00Z", **data}
    return {"id": "t-1", "type": "market_tick", "timestamp": "2026-11-21T09:15:00.123456Z",
            "correlation_id": "t-1", "causation_id": None, "source": "test", "version": 1,
            "broker": None, "data": payload}


def raw(event) -> bytes:
    return json.dumps(event).encode()


def test_a_valid_tick_decodes_to_a_typed_envelope():
    event = decode_event(raw(tick_event()), EventType.MARKET_TICK)
    assert isinstance(event.data, MarketTick) and event.data.last_price == 101.5


def test_encoding_is_plain_json_with_a_utc_z_timestamp():
    wire = json.loads(encode_event(decode_event(raw(tick_event()), EventType.MARKET_TICK)))
    assert wire["timestamp"] == "2026-11-21T09:15:00.123456Z" and wire["data"]["instrument_token"] == 256265


@pytest.mark.parametrize("payload", [b"not json", b'{"id": ', b"\xff\xfe"])
def test_bytes_that_are_not_json_are_malformed(payload):
    with pytest.raises(MalformedMessage):
        decode_event(payload, EventType.MARKET_TICK)


def test_a_null_value_is_malformed():
    with pytest.raises(MalformedMessage):
        decode_event(None, EventType.MARKET_TICK)


@pytest.mark.parametrize("payload", [b"[1, 2]", b'"text"', b"42"])
def test_json_that_is_not_an_object_is_invalid(payload):
    with pytest.raises(InvalidEvent):
        decode_event(payload, EventType.MARKET_TICK)


@pytest.mark.parametrize("field,value,where", [
    ("last_price", -1, "data.last_price"),
    ("last_price", 0, "data.last_price"),
    ("last_price", "abc", "data.last_price"),
    ("last_price", 1e300, "data.last_price"),
    ("instrument_token", 0, "data.instrument_token"),
    ("instrument_token", 2**40, "data.instrument_token"),
])
def test_out_of_range_or_wrong_type_fields_are_invalid_and_named(field, value, where):
    with pytest.raises(InvalidEvent, match=where):
        decode_event(raw(tick_event(**{field: value})), EventType.MARKET_TICK)


def test_nan_prices_are_invalid():
    text = raw(tick_event()).replace(b"101.5", b"NaN")
    with pytest.raises((InvalidEvent, MalformedMessage)):
        decode_event(text, EventType.MARKET_TICK)
    assert math.isnan(float("nan"))


def test_missing_fields_are_invalid_and_named():
    event = tick_event()
    del event["data"]["instrument_token"]
    with pytest.raises(InvalidEvent, match="data.instrument_token"):
        decode_event(raw(event), EventType.MARKET_TICK)


def test_an_unknown_enum_value_is_invalid():
    signal = {"strategy_id": "s", "instrument_token": 1, "signal_type": "HOLD", "quantity": 1, "price": 1.0,
              "timestamp": "2026-11-21T09:15:00Z"}
    event = {**tick_event(), "type": "trading_signal", "broker": "paper", "data": signal}
    with pytest.raises(InvalidEvent, match="signal_type"):
        decode_event(raw(event), EventType.TRADING_SIGNAL)


def test_an_event_of_another_type_is_a_contract_violation():
    signal = {"strategy_id": "s", "instrument_token": 1, "signal_type": "BUY", "quantity": 1, "price": 1.0,
              "timestamp": "2026-11-21T09:15:00Z", "last_price": 1.0}
    event = {**tick_event(), "type": "trading_signal", "data": {**tick_event()["data"], **signal}}
    with pytest.raises(ContractViolation):
        decode_event(raw(event), EventType.MARKET_TICK)


def test_a_huge_message_is_refused_before_parsing():
    event = tick_event(tradingsymbol="x")
    event["data"]["padding"] = "x" * MAX_EVENT_BYTES
    with pytest.raises(MessageTooLarge):
        decode_event(raw(event), EventType.MARKET_TICK)


def test_a_limit_signal_needs_a_limit_price():
    with pytest.raises(ValueError, match="limit_price"):
        TradingSignal(strategy_id="s", instrument_token=1, signal_type="BUY", quantity=1, price=1.0,
                      timestamp="2026-11-21T09:15:00Z", order_type="LIMIT")
