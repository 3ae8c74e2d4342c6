"""The risk manager agent: per-broker state in its table, decisions to the broker's topics."""

import pytest

from alphapanda.agents.risk_manager import load_state, risk_manager
from alphapanda.tables import risk_state
from tests.agents.conftest import Delivery
from tests.support.pipeline import envelope, trading_signal

BROKERS = ["paper", "zerodha"]


@pytest.mark.parametrize("broker", BROKERS)
async def test_a_signal_within_limits_is_validated_on_its_own_brokers_topic(sent, broker):
    async with risk_manager.test_context() as agent:
        deliver = Delivery(agent)
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
    async with risk_manager.test_context() as agent:
        deliver = Delivery(agent)
        await deliver(f"{broker}.risk.control", envelope("risk_command", {"action": "halt"}, broker=broker), key=broker.encode())
        await deliver(f"{broker}.signals.raw", trading_signal(broker, event_id="h-1"), key=broker.encode())
        await deliver(f"{other}.signals.raw", trading_signal(other, event_id="o-1"), key=other.encode())
    [rejected] = sent.to(f"{broker}.signals.rejected")
    assert rejected["data"]["reason_code"] == "TRADING_HALTED"
    assert [v["causation_id"] for v in sent.to(f"{other}.signals.validated")] == ["o-1"]


async def test_limits_changed_through_the_control_topic_apply_to_the_next_signal(sent):
    async with risk_manager.test_context() as agent:
        deliver = Delivery(agent)
        await deliver("paper.signals.raw", trading_signal("paper", quantity=50, event_id="before"))
        await deliver("paper.risk.control", envelope("risk_command", {"action": "set_limits", "limits": {"max_order_quantity": 10}}, broker="paper"))
        await deliver("paper.signals.raw", trading_signal("paper", quantity=50, event_id="after"))
    assert [v["causation_id"] for v in sent.to("paper.signals.validated")] == ["before"]
    [rejected] = sent.to("paper.signals.rejected")
    assert rejected["causation_id"] == "after" and rejected["data"]["reason_code"] == "MAX_ORDER_QUANTITY_EXCEEDED"


async def test_an_invalid_limit_command_is_dead_lettered_and_changes_nothing(sent):
    async with risk_manager.test_context() as agent:
        deliver = Delivery(agent)
        await deliver("paper.risk.control", envelope("risk_command", {"action": "set_limits", "limits": {"max_order_quantity": -1}}, broker="paper"))
        await deliver("paper.signals.raw", trading_signal("paper", quantity=5, event_id="ok"))
    [letter] = sent.to("paper.risk.control.dlq")
    assert "max_order_quantity" in letter["data"]["error"]
    assert len(sent.to("paper.signals.validated")) == 1


async def test_a_failed_order_releases_its_exposure(sent):
    failed = envelope("order_failed", {"order_id": "o1", "signal_id": "s-1", "strategy_id": "manual",
                                       "instrument_token": 408065, "side": "BUY", "quantity": 5,
                                       "reason_code": "LIVE_TRADING_DISABLED", "reason": "off"}, broker="paper")
    async with risk_manager.test_context() as agent:
        deliver = Delivery(agent)
        await deliver("paper.signals.raw", trading_signal("paper", quantity=5, event_id="s-1"))
        await deliver("paper.orders.failed", failed)
    assert load_state("paper").position(408065) == 0


async def test_a_redelivered_signal_is_decided_once(sent):
    async with risk_manager.test_context() as agent:
        deliver = Delivery(agent)
        await deliver("paper.signals.raw", trading_signal("paper", quantity=5, event_id="dup"))
        await deliver("paper.signals.raw", trading_signal("paper", quantity=5, event_id="dup"))
    assert len(sent.to("paper.signals.validated")) == 1
    assert load_state("paper").position(408065) == 5


async def test_a_message_redelivered_after_a_crash_is_not_applied_twice(sent):
    """Same offset again (the commit was lost), even under a new event id: recognised per record."""
    async with risk_manager.test_context() as agent:
        deliver = Delivery(agent)
        await deliver("paper.signals.raw", trading_signal("paper", quantity=5, event_id="first"))
        deliver.offset -= 1  # the broker hands out the same offset again
        await deliver("paper.signals.raw", trading_signal("paper", quantity=5, event_id="first-again"))
    assert load_state("paper").position(408065) == 5
    assert [v["causation_id"] for v in sent.to("paper.signals.validated")] == ["first"]


async def test_limits_are_seeded_from_settings_per_broker(sent):
    """RISK__ZERODHA__MAX_ORDER_QUANTITY=400 (set for these tests); paper keeps the default 1000."""
    async with risk_manager.test_context() as agent:
        deliver = Delivery(agent)
        await deliver("zerodha.signals.raw", trading_signal("zerodha", quantity=500, price=100.0, event_id="z-big"), key=b"zerodha")
        await deliver("paper.signals.raw", trading_signal("paper", quantity=500, price=100.0, event_id="p-big"))
    assert sent.to("zerodha.signals.rejected")[0]["data"]["reason_code"] == "MAX_ORDER_QUANTITY_EXCEEDED"
    assert [v["causation_id"] for v in sent.to("paper.signals.validated")] == ["p-big"]
