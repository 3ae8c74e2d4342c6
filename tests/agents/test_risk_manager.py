"""The risk stage, in each broker's execution lane: per-broker state in its table, decisions to
the broker's topics, the order of an approved signal placed in the same step."""

import json

import pytest

from alphapanda.agents.execution import PLACED_HEADER, order_key
from alphapanda.agents.risk_manager import load_state
from alphapanda.ids import derived_id
from alphapanda.tables import orders, risk_state
from tests.agents.conftest import lane
from tests.support.pipeline import envelope, trading_signal

BROKERS = ["paper", "zerodha"]


@pytest.mark.parametrize("broker", BROKERS)
async def test_a_signal_within_limits_is_validated_on_its_own_brokers_topic(sent, broker):
    async with lane(broker) as deliver:
        await deliver(f"{broker}.signals.raw", trading_signal(broker, quantity=5, event_id="s-1"), key=broker.encode())
    [validated] = sent.to(f"{broker}.signals.validated")
    assert validated["causation_id"] == "s-1" and validated["broker"] == broker
    assert validated["data"]["risk"]["position_after"] == 5
    assert load_state(broker).position(408065) == 5
    other = "zerodha" if broker == "paper" else "paper"
    assert sent.to(f"{other}.signals.validated") == [] and risk_state.get(other) is None


@pytest.mark.parametrize("broker", BROKERS)
async def test_halting_one_broker_leaves_the_other_trading(sent, broker):
    other = "zerodha" if broker == "paper" else "paper"
    async with lane(broker) as deliver, lane(other) as deliver_other:
        await deliver(f"{broker}.risk.control", envelope("risk_command", {"action": "halt"}, broker=broker), key=broker.encode())
        await deliver(f"{broker}.signals.raw", trading_signal(broker, event_id="h-1"), key=broker.encode())
        await deliver_other(f"{other}.signals.raw", trading_signal(other, event_id="o-1"), key=other.encode())
    [rejected] = sent.to(f"{broker}.signals.rejected")
    assert rejected["data"]["reason_code"] == "TRADING_HALTED"
    assert [v["causation_id"] for v in sent.to(f"{other}.signals.validated")] == ["o-1"]


async def test_limits_changed_through_the_control_topic_apply_to_the_next_signal(sent):
    async with lane("paper") as deliver:
        await deliver("paper.signals.raw", trading_signal("paper", quantity=50, event_id="before"))
        await deliver("paper.risk.control", envelope("risk_command", {"action": "set_limits", "limits": {"max_order_quantity": 10}}, broker="paper"))
        await deliver("paper.signals.raw", trading_signal("paper", quantity=50, event_id="after"))
    assert [v["causation_id"] for v in sent.to("paper.signals.validated")] == ["before"]
    [rejected] = sent.to("paper.signals.rejected")
    assert rejected["causation_id"] == "after" and rejected["data"]["reason_code"] == "MAX_ORDER_QUANTITY_EXCEEDED"


async def test_an_invalid_limit_command_is_dead_lettered_and_changes_nothing(sent):
    async with lane("paper") as deliver:
        await deliver("paper.risk.control", envelope("risk_command", {"action": "set_limits", "limits": {"max_order_quantity": -1}}, broker="paper"))
        await deliver("paper.signals.raw", trading_signal("paper", quantity=5, event_id="ok"))
    [letter] = sent.to("paper.risk.control.dlq")
    assert "max_order_quantity" in letter["data"]["error"]
    assert len(sent.to("paper.signals.validated")) == 1


async def test_a_failed_order_releases_its_exposure(sent):
    failed = envelope("order_failed", {"order_id": "o1", "signal_id": "s-1", "strategy_id": "manual",
                                       "instrument_token": 408065, "side": "BUY", "quantity": 5,
                                       "reason_code": "LIVE_TRADING_DISABLED", "reason": "off"}, broker="paper")
    async with lane("paper") as deliver:
        await deliver("paper.signals.raw", trading_signal("paper", quantity=5, event_id="s-1"))
        await deliver("paper.orders.failed", failed)
    assert load_state("paper").position(408065) == 0


async def test_a_redelivered_signal_is_decided_once(sent):
    async with lane("paper") as deliver:
        await deliver("paper.signals.raw", trading_signal("paper", quantity=5, event_id="dup"))
        await deliver("paper.signals.raw", trading_signal("paper", quantity=5, event_id="dup"))
    assert len(sent.to("paper.signals.validated")) == 1
    assert load_state("paper").position(408065) == 5


async def test_a_message_redelivered_after_a_crash_is_not_applied_twice(sent):
    """Same offset again (the commit was lost), even under a new event id: recognised per record."""
    async with lane("paper") as deliver:
        await deliver("paper.signals.raw", trading_signal("paper", quantity=5, event_id="first"))
        deliver.offset -= 1  # the broker hands out the same offset again
        await deliver("paper.signals.raw", trading_signal("paper", quantity=5, event_id="first-again"))
    assert load_state("paper").position(408065) == 5
    assert [v["causation_id"] for v in sent.to("paper.signals.validated")] == ["first"]


async def test_limits_are_seeded_from_settings_per_broker(sent):
    """RISK__ZERODHA__MAX_ORDER_QUANTITY=400 (set for these tests); paper keeps the default 1000."""
    async with lane("zerodha") as deliver_zerodha, lane("paper") as deliver:
        await deliver_zerodha("zerodha.signals.raw", trading_signal("zerodha", quantity=500, price=100.0, event_id="z-big"), key=b"zerodha")
        await deliver("paper.signals.raw", trading_signal("paper", quantity=500, price=100.0, event_id="p-big"))
    assert sent.to("zerodha.signals.rejected")[0]["data"]["reason_code"] == "MAX_ORDER_QUANTITY_EXCEEDED"
    assert [v["causation_id"] for v in sent.to("paper.signals.validated")] == ["p-big"]


# The order in the same step -------------------------------------------------------------------


def placed(broker: str, signal_id: str) -> dict | None:
    return orders.get(order_key(broker, derived_id("order", signal_id)))


async def test_an_approved_signal_is_placed_and_filled_in_the_step_that_validates_it(sent):
    async with lane("paper") as deliver:
        await deliver("paper.signals.raw", trading_signal("paper", quantity=5, event_id="now-1"))
    [validated] = sent.to("paper.signals.validated")
    [submitted] = sent.to("paper.orders.submitted")
    [filled] = sent.to("paper.orders.filled")
    assert submitted["causation_id"] == filled["causation_id"] == validated["id"]
    assert filled["data"]["signal_id"] == "now-1" and filled["data"]["quantity"] == 5
    assert placed("paper", "now-1")["state"] == "FILLED"
    # The validated signal goes out first, marked: the lane that reads it back places nothing.
    assert [t for t, _, _ in sent.messages] == ["paper.signals.validated", "paper.orders.submitted", "paper.orders.filled"]


async def test_a_rejected_signal_places_no_order(sent):
    async with lane("paper") as deliver:
        await deliver("paper.risk.control", envelope("risk_command", {"action": "halt"}, broker="paper"))
        await deliver("paper.signals.raw", trading_signal("paper", event_id="halted-1"))
    assert sent.to("paper.signals.rejected") and sent.to("paper.orders.submitted") == []
    assert placed("paper", "halted-1") is None


async def test_the_lanes_own_validated_signal_read_back_is_passed_over(sent):
    async with lane("paper") as deliver:
        await deliver("paper.signals.raw", trading_signal("paper", quantity=5, event_id="back-1"))
        first = list(sent.messages)
        [(_, key, value)] = [m for m in first if m[0] == "paper.signals.validated"]
        await deliver("paper.signals.validated", json.dumps(value).encode(), headers=[(PLACED_HEADER, b"1")])
        assert sent.messages == first  # no second set of outcomes
        # The same signal without the mark (validated elsewhere, or before an upgrade): its order
        # exists, so it is not placed again; its outcomes are sent again with the same ids.
        await deliver("paper.signals.validated", json.dumps(value).encode())
    again = [(t, v["id"]) for t, _, v in sent.messages[len(first):]]
    assert again == [(t, v["id"]) for t, _, v in first if t != "paper.signals.validated"]


async def test_a_signal_redelivered_before_its_risk_state_was_saved_places_no_second_order(sent, placed):
    """A crash after the outputs were sent but before the risk state was saved: the same message
    again is decided the same way, and the order it made is found, not placed twice."""
    async with lane("paper") as deliver:
        saved = dict(risk_state.data)
        await deliver("paper.signals.raw", trading_signal("paper", quantity=5, event_id="crash-1"))
        first = list(sent.messages)
        risk_state.data.clear()
        risk_state.data.update(saved)  # the risk state's write never reached its changelog
        deliver.offset -= 1
        await deliver("paper.signals.raw", trading_signal("paper", quantity=5, event_id="crash-1"))
    assert len(placed) == 1
    assert [(t, v["id"]) for t, _, v in sent.messages[len(first):]] == [(t, v["id"]) for t, _, v in first]
    assert load_state("paper").position(408065) == 5


async def test_outputs_not_acknowledged_in_time_are_retried_without_a_second_order(sent, placed, monkeypatch):
    """The step's outputs time out once: it runs again, finds the order it made, sends the same
    events again, and counts one placement."""
    from prometheus_client import REGISTRY

    from alphapanda.agents import execution

    path = execution.executions["paper"].risk_path
    emit, emitted = path.emit, []

    async def emit_timing_out_once(outputs):
        emitted.append([e.event.id for e in outputs])
        if len(emitted) == 1:
            raise TimeoutError("no ack in time")
        await emit(outputs)

    def placements() -> float:
        return REGISTRY.get_sample_value("trading_handler_latency_seconds_count", {"stage": "execution"}) or 0.0

    monkeypatch.setattr(path, "emit", emit_timing_out_once)
    before = placements()
    async with lane("paper") as deliver:
        await deliver("paper.signals.raw", trading_signal("paper", quantity=5, event_id="slow-1"))
    assert len(placed) == 1 and len(emitted) == 2 and emitted[0] == emitted[1]
    assert sent.to("paper.signals.raw.dlq") == []
    assert len(sent.to("paper.signals.validated")) == 1 and len(sent.to("paper.orders.filled")) == 1
    assert load_state("paper").position(408065) == 5
    assert placements() - before == 1
