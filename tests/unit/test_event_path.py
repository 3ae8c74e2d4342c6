"""The one path every message takes: DLQ for poison, retries for transient faults, dedupe, acked emits."""

import asyncio
import json

import pytest

from alphapanda.models import EventType
from alphapanda.models.wire import InvalidEvent
from alphapanda.reliability import Emit, EventPath, RetryPolicy, SourceMessage

SIGNAL = {"strategy_id": "s1", "instrument_token": 408065, "signal_type": "BUY", "quantity": 5,
          "price": 1500.0, "timestamp": "2026-11-21T09:15:00Z"}


def signal_bytes(event_id="e-1", broker="paper", **data) -> bytes:
    return json.dumps({"id": event_id, "type": "trading_signal", "timestamp": "2026-11-21T09:15:00Z",
                       "correlation_id": event_id, "source": "test", "broker": broker,
                       "data": {**SIGNAL, **data}}).encode()


class Recorder:
    """A sender that records what was sent; can fail the first N sends."""

    def __init__(self, fail_first: int = 0):
        self.sent: list[tuple[str, bytes | None, dict]] = []
        self.fail_first = fail_first

    async def __call__(self, topic, key, value):
        if self.fail_first:
            self.fail_first -= 1
            raise ConnectionError("broker unreachable")
        self.sent.append((topic, key, json.loads(value)))

    def to(self, topic):
        return [value for t, _, value in self.sent if t == topic]


def make_path(sender, seen=None, attempts=3):
    return EventPath(service="risk_manager", expected={"paper.signals.raw": EventType.TRADING_SIGNAL},
                     send=sender, seen=seen, retry=RetryPolicy(attempts=attempts, base_delay=0.001))


def message(value, offset=7, topic="paper.signals.raw"):
    return SourceMessage(topic, 2, offset, b"paper", value)


async def echo(event, broker, msg):
    return [Emit(f"{broker}.signals.validated", broker, event)]


def run(coro):
    return asyncio.run(coro)


def test_a_valid_message_is_handled_and_its_outputs_sent():
    sender = Recorder()
    assert run(make_path(sender).process(message(signal_bytes()), echo)) is True
    assert [v["id"] for v in sender.to("paper.signals.validated")] == ["e-1"]


def test_poison_goes_to_the_topics_dlq_with_the_original_bytes_and_position():
    sender = Recorder()
    handled = run(make_path(sender).process(message(b"{oops"), echo))
    assert handled is False
    [letter] = sender.to("paper.signals.raw.dlq")
    data = letter["data"]
    assert letter["type"] == "dead_letter" and letter["broker"] == "paper"
    assert (data["original_topic"], data["partition"], data["offset"], data["key"]) == ("paper.signals.raw", 2, 7, "paper")
    assert data["value"] == "{oops" and data["error_type"] == "DecodeError" and data["attempts"] == 1
    assert data["service"] == "risk_manager" and data["failed_at"]


def test_undecodable_bytes_are_kept_as_base64():
    sender = Recorder()
    run(make_path(sender).process(message(b"\xff\x00\xfe"), echo))
    [letter] = sender.to("paper.signals.raw.dlq")
    assert letter["data"]["value_encoding"] == "base64" and letter["data"]["value"] == "/wD+"


def test_an_envelope_naming_another_broker_is_a_contract_error():
    sender = Recorder()
    run(make_path(sender).process(message(signal_bytes(broker="zerodha")), echo))
    [letter] = sender.to("paper.signals.raw.dlq")
    assert letter["data"]["error_type"] == "ContractError" and "zerodha" in letter["data"]["error"]


def test_transient_failures_are_retried_then_succeed():
    sender = Recorder(fail_first=2)
    assert run(make_path(sender, attempts=3).process(message(signal_bytes()), echo)) is True
    assert len(sender.to("paper.signals.validated")) == 1


def test_transient_failures_past_the_budget_go_to_the_dlq_with_the_attempt_count():
    calls = []

    async def always_times_out(event, broker, msg):
        calls.append(1)
        raise asyncio.TimeoutError()

    sender = Recorder()
    assert run(make_path(sender, attempts=3).process(message(signal_bytes()), always_times_out)) is False
    [letter] = sender.to("paper.signals.raw.dlq")
    assert len(calls) == 3 and letter["data"]["attempts"] == 3 and letter["data"]["error_type"] == "TimeoutError"


def test_a_handler_bug_is_dead_lettered_not_retried_and_not_dropped():
    async def buggy(event, broker, msg):
        raise KeyError("missing")

    sender = Recorder()
    run(make_path(sender).process(message(signal_bytes()), buggy))
    [letter] = sender.to("paper.signals.raw.dlq")
    assert letter["data"]["error_type"] == "KeyError" and letter["data"]["attempts"] == 1


def test_a_contract_error_found_by_the_handler_is_dead_lettered():
    async def refuses(event, broker, msg):
        raise InvalidEvent("risk command rejected: max_order_quantity must be positive")

    sender = Recorder()
    run(make_path(sender).process(message(signal_bytes()), refuses))
    assert sender.to("paper.signals.raw.dlq")[0]["data"]["error_type"] == "ValidationError"


def test_a_repeated_event_id_is_handled_once():
    sender, seen = Recorder(), {}
    path = make_path(sender, seen=seen)
    assert run(path.process(message(signal_bytes("same"), offset=1), echo)) is True
    assert run(path.process(message(signal_bytes("same"), offset=2), echo)) is False
    assert len(sender.to("paper.signals.validated")) == 1 and "paper:same" in seen


def test_a_message_from_an_unknown_broker_topic_is_dead_lettered():
    sender = Recorder()
    path = EventPath(service="risk_manager", expected={}, send=sender)
    run(path.process(message(signal_bytes(), topic="nyse.signals.raw"), echo))
    [letter] = sender.to("nyse.signals.raw.dlq")
    assert letter["data"]["error_type"] == "ContractError"


@pytest.mark.parametrize("bad", [b"[]", b"{}", signal_bytes(quantity=-5), signal_bytes(quantity=10**12)])
def test_every_kind_of_bad_input_ends_in_the_dlq(bad):
    sender = Recorder()
    run(make_path(sender).process(message(bad), echo))
    assert len(sender.to("paper.signals.raw.dlq")) == 1 and not sender.to("paper.signals.validated")
