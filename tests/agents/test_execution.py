"""The execution lanes: one order per signal, lifecycle in the orders table, outcomes on the
broker's topics, working orders progressed by trigger ticks, venue updates applied, a third broker
served by its registered venue alone."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import SecretStr

from alphapanda.agents import execution
from alphapanda.agents.execution import ExecutionLane, TickTriggers, lane_agent, order_key, working_key
from alphapanda.app import settings
from alphapanda.execution.registry import VenueSpec, build_venue, register_venue
from alphapanda.execution.tick_watch import TickWatch
from alphapanda.execution.venue import Fill, OrderRequest, Submitted, Venue, VenueEvent
from alphapanda.execution.zerodha import ZerodhaVenue, order_tag
from alphapanda.ids import derived_id
from alphapanda.tables import orders, seen_events
from tests.agents.conftest import running
from tests.support.kite_rest_server import Fault, KiteRestServer

T0 = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)
INFY = 408065


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def validated(broker: str, *, signal_id: str, quantity: int = 10, price: float = 1500.0, side: str = "BUY",
              order_type: str = "MARKET", limit_price: float | None = None, at: datetime = T0) -> bytes:
    signal = {"strategy_id": "momentum_v1", "instrument_token": INFY, "signal_type": side,
              "quantity": quantity, "price": price, "timestamp": iso(at), "order_type": order_type}
    if limit_price is not None:
        signal["limit_price"] = limit_price
    return json.dumps({
        "id": derived_id("validated", signal_id), "type": "validated_signal", "timestamp": iso(at),
        "correlation_id": signal_id, "causation_id": signal_id, "source": "risk_manager", "version": 1,
        "broker": broker,
        "data": {"signal": signal, "risk": {"checks": [], "position_after": quantity, "gross_exposure_after": 0.0}},
    }).encode()


def tick_trigger(broker: str, price: float, *, at: datetime, last_quantity: int | None = None,
                 volume: int | None = None) -> bytes:
    data = {"instrument_token": INFY, "last_price": price, "timestamp": iso(at)}
    if last_quantity is not None:
        data["last_quantity"] = last_quantity
    if volume is not None:
        data["volume"] = volume
    return json.dumps({"id": uuid.uuid4().hex, "type": "market_tick", "timestamp": iso(at),
                       "correlation_id": "t", "causation_id": None, "source": "test", "version": 1,
                       "broker": broker, "data": data}).encode()


def venue_update(broker: str, payload: dict, *, via: str = "websocket") -> bytes:
    event_id = uuid.uuid4().hex
    return json.dumps({"id": event_id, "type": "venue_order_update", "timestamp": iso(datetime.now(timezone.utc)),
                       "correlation_id": event_id, "causation_id": None, "source": "kite_feed", "version": 1,
                       "broker": broker, "data": {"via": via, "payload": payload}}).encode()


def paper():
    return running(execution.lanes["paper"], execution.executions["paper"])


def record(broker: str, signal_id: str) -> dict:
    return orders[order_key(broker, derived_id("order", signal_id))]


# Test lanes are built once per broker and venue kind: Faust agents cannot be removed again.
_test_lanes: dict[str, tuple[ExecutionLane, object]] = {}


def lane_for(name: str, broker: str, venue: Venue) -> tuple[ExecutionLane, object]:
    if name not in _test_lanes:
        lane = ExecutionLane(broker, venue, TickTriggers(TickWatch(), [broker]))
        _test_lanes[name] = (lane, lane_agent(lane, name=f"execution.test.{name}"))
    lane, agent = _test_lanes[name]
    lane.venue = venue
    return lane, agent


# Paper --------------------------------------------------------------------------------------


async def test_a_validated_signal_becomes_one_order_submitted_and_filled(sent):
    async with paper() as deliver:
        await deliver("paper.signals.validated", validated("paper", signal_id="s-1", quantity=7))

    [placed] = sent.to("paper.orders.submitted")
    [filled] = sent.to("paper.orders.filled")
    assert placed["data"]["signal_id"] == filled["data"]["signal_id"] == "s-1"
    assert filled["data"]["quantity"] == 7 and filled["data"]["filled_quantity"] == 7
    assert filled["correlation_id"] == "s-1" and filled["broker"] == "paper"
    assert record("paper", "s-1")["state"] == "FILLED"
    assert sent.to("zerodha.orders.filled") == [] and sent.to("zerodha.orders.submitted") == []


async def test_a_validated_signal_delivered_twice_makes_one_order_and_one_set_of_outcomes(sent):
    message = validated("paper", signal_id="s-twice")
    async with paper() as deliver:
        await deliver("paper.signals.validated", message)
        await deliver("paper.signals.validated", message)

    assert len(sent.to("paper.orders.submitted")) == 1 and len(sent.to("paper.orders.filled")) == 1
    assert [k for k in orders.keys() if k.startswith("paper:")] == [order_key("paper", derived_id("order", "s-twice"))]


async def test_a_signal_redelivered_after_its_dedupe_mark_is_lost_is_not_placed_again(sent, placed):
    message = validated("paper", signal_id="s-lost")
    async with paper() as deliver:
        await deliver("paper.signals.validated", message)
        first = list(sent.messages)
        seen_events.table.data.clear()  # as if the worker stopped before the mark reached the changelog
        await deliver("paper.signals.validated", message)

    assert len(placed) == 1
    again = sent.messages[len(first):]
    assert [(t, v["id"]) for t, _, v in again] == [(t, v["id"]) for t, _, v in first]


async def test_a_limit_order_rests_then_fills_partially_and_completely_on_later_ticks(sent):
    s = "s-limit"
    async with paper() as deliver:
        await deliver("paper.signals.validated", validated(
            "paper", signal_id=s, quantity=10, order_type="LIMIT", limit_price=1490.0))
        assert record("paper", s)["state"] == "SUBMITTED" and sent.to("paper.orders.filled") == []
        assert orders[working_key("paper")] == {derived_id("order", s): INFY}

        await deliver("paper.orders.triggers", tick_trigger("paper", 1495.0, at=T0 + timedelta(seconds=1)))
        assert sent.to("paper.orders.filled") == []  # not crossed yet
        await deliver("paper.orders.triggers", tick_trigger("paper", 1489.0, at=T0 + timedelta(seconds=2), last_quantity=4))
        assert record("paper", s)["state"] == "PARTIALLY_FILLED"
        await deliver("paper.orders.triggers", tick_trigger("paper", 1488.0, at=T0 + timedelta(seconds=3), last_quantity=50))

    fills = sent.to("paper.orders.filled")
    assert [(f["data"]["quantity"], f["data"]["filled_quantity"]) for f in fills] == [(4, 4), (6, 10)]
    assert all(f["data"]["fill_price"] <= 1490.0 for f in fills)
    assert all(f["correlation_id"] == s for f in fills)
    assert record("paper", s)["state"] == "FILLED"
    assert orders[working_key("paper")] == {}


async def test_a_tick_delivered_twice_or_older_than_the_last_one_fills_nothing_more(sent):
    s = "s-ticks"
    again = tick_trigger("paper", 1500.0, at=T0 + timedelta(seconds=2), last_quantity=3)
    async with paper() as deliver:
        await deliver("paper.signals.validated", validated(
            "paper", signal_id=s, quantity=10, order_type="LIMIT", limit_price=1500.0, price=1501.0))
        await deliver("paper.orders.triggers", again)
        await deliver("paper.orders.triggers", again)
        await deliver("paper.orders.triggers", tick_trigger("paper", 1499.0, at=T0 + timedelta(seconds=1), last_quantity=3))

    assert [f["data"]["quantity"] for f in sent.to("paper.orders.filled")] == [3]
    assert record("paper", s)["filled_quantity"] == 3


async def test_after_a_restart_the_working_orders_in_the_table_wait_for_their_ticks_again(sent):
    s = "s-restart"
    async with paper() as deliver:
        await deliver("paper.signals.validated", validated(
            "paper", signal_id=s, order_type="LIMIT", limit_price=1490.0))
    fresh = TickWatch()  # a new process: nothing in memory
    for seconds, price in ((-1, 1480.0), (1, 1489.0)):
        fresh.observe(str(INFY).encode(), tick_trigger("paper", price, at=T0 + timedelta(seconds=seconds)))
    forwarded = fresh.sync("paper", execution.working_orders("paper"))
    assert [e.data.last_price for e in forwarded] == [1489.0]
    assert fresh.waiting("paper") == {derived_id("order", s): INFY}


async def test_ticks_stamped_before_the_order_do_not_fill_it(sent):
    s = "s-early"
    async with paper() as deliver:
        await deliver("paper.signals.validated", validated(
            "paper", signal_id=s, order_type="LIMIT", limit_price=1490.0))
        await deliver("paper.orders.triggers", tick_trigger("paper", 1480.0, at=T0 - timedelta(seconds=1)))
    assert sent.to("paper.orders.filled") == [] and record("paper", s)["state"] == "SUBMITTED"


# A third broker -------------------------------------------------------------------------------


class FixedPriceVenue(Venue):
    """A test-only venue: fills every order at once at its reference price, free of charge."""

    matches_on_ticks = False

    def __init__(self, broker: str) -> None:
        self.broker = broker

    async def place(self, order: OrderRequest, market) -> list[VenueEvent]:
        return [Submitted(order.order_id, f"fixed-{order.order_id[:8]}"),
                Fill(order.order_id, f"{order.order_id}-{order.quantity}", order.quantity,
                     order.reference_price, 0.0, order.created_at)]


async def test_a_third_broker_is_one_registered_venue_and_trades_on_its_own_topics(sent):
    register_venue(VenueSpec("fixed3", live=False, build=lambda s: FixedPriceVenue("fixed3")))
    lane, agent = lane_for("fixed3", "fixed3", build_venue("fixed3", settings))
    async with running(agent, lane) as deliver:
        await deliver("fixed3.signals.validated",
                                validated("fixed3", signal_id="s-third", quantity=3, price=99.5), key=b"fixed3")

    [filled] = sent.to("fixed3.orders.filled")
    assert filled["broker"] == "fixed3" and filled["data"]["fill_price"] == 99.5
    assert sent.to("fixed3.orders.submitted")[0]["data"]["venue_order_id"].startswith("fixed-")
    assert record("fixed3", "s-third")["state"] == "FILLED"
    assert not [t for t, _, _ in sent.messages if t.startswith(("paper.", "zerodha."))]


# Zerodha (a live venue against the local Kite server) -----------------------------------------


@pytest.fixture
async def kite():
    async with KiteRestServer(api_key="key1", access_token="token1") as server:
        yield server


@pytest.fixture
async def zerodha(kite):
    venue = ZerodhaVenue(enabled=True, api_key=SecretStr("key1"), access_token=SecretStr("token1"),
                         api_secret=SecretStr("secret1"), instrument_lookup={INFY: ("NSE", "INFY")}.get,
                         root=kite.root, timeout=1.0, max_retries=1, retry_backoff=0.01)
    lane, agent = lane_for("zerodha", "zerodha", venue)
    yield lambda: running(agent, lane)
    await venue.stop()


async def test_a_live_order_is_submitted_then_filled_in_parts_by_its_order_updates(sent, kite, zerodha):
    s = "z-1"
    async with zerodha() as deliver:
        await deliver("zerodha.signals.validated", validated("zerodha", signal_id=s, quantity=10), key=b"zerodha")
        [kite_order] = kite.orders.values()
        assert kite_order["tag"] == order_tag(derived_id("order", s))

        partial = kite.fill(kite_order["order_id"], 4, 1500.5)
        await deliver("zerodha.orders.updates", venue_update("zerodha", {"type": "order", "data": partial}), key=b"zerodha")
        await deliver("zerodha.orders.updates", venue_update("zerodha", partial, via="postback"), key=b"zerodha")
        complete = kite.fill(kite_order["order_id"], 6, 1501.0)
        await deliver("zerodha.orders.updates", venue_update("zerodha", complete, via="postback"), key=b"zerodha")

    [placed] = sent.to("zerodha.orders.submitted")
    assert placed["data"]["venue_order_id"] == kite_order["order_id"]
    fills = sent.to("zerodha.orders.filled")
    assert [(f["data"]["quantity"], f["data"]["fill_price"]) for f in fills] == [(4, 1500.5), (6, 1501.0)]
    assert record("zerodha", s)["state"] == "FILLED" and record("zerodha", s)["venue_order_id"] == kite_order["order_id"]


async def test_a_rejection_by_the_exchange_fails_the_rest_of_the_order(sent, kite, zerodha):
    async with zerodha() as deliver:
        await deliver("zerodha.signals.validated", validated("zerodha", signal_id="z-rej"), key=b"zerodha")
        [kite_order] = kite.orders.values()
        rejected = kite.set_status(kite_order["order_id"], "REJECTED", "Insufficient funds")
        await deliver("zerodha.orders.updates", venue_update("zerodha", rejected), key=b"zerodha")

    [failed] = sent.to("zerodha.orders.failed")
    assert failed["data"]["reason_code"] == "VENUE_REJECTED" and "Insufficient" in failed["data"]["reason"]
    assert record("zerodha", "z-rej")["state"] == "FAILED"


async def test_updates_of_orders_that_are_not_ours_are_ignored(sent, kite, zerodha):
    async with zerodha() as deliver:
        await deliver("zerodha.orders.updates", venue_update(
            "zerodha", {"order_id": "1", "status": "COMPLETE", "tag": None, "filled_quantity": 1}), key=b"zerodha")
    assert sent.messages == []


async def test_an_expired_session_fails_the_order_and_halts_the_brokers_trading(sent, kite, zerodha):
    kite.fail_next(Fault.TOKEN, method=None)
    async with zerodha() as deliver:
        await deliver("zerodha.signals.validated", validated("zerodha", signal_id="z-token"), key=b"zerodha")

    [failed] = sent.to("zerodha.orders.failed")
    assert failed["data"]["reason_code"] == "VENUE_SESSION_INVALID"
    [halt] = sent.to("zerodha.risk.control")
    assert halt["type"] == "risk_command" and halt["data"]["action"] == "halt"
    assert "VENUE_SESSION_INVALID" in halt["data"]["reason"]
    assert sent.to("paper.risk.control") == []
    assert _test_lanes["zerodha"][0].venue.health()["status"] == "session_invalid"


async def test_with_live_trading_disabled_a_zerodha_order_fails_and_kite_is_never_called(sent, kite):
    async with running(execution.lanes["zerodha"], execution.executions["zerodha"]) as deliver:
        await deliver("zerodha.signals.validated", validated("zerodha", signal_id="z-off"), key=b"zerodha")
    [failed] = sent.to("zerodha.orders.failed")
    assert failed["data"]["reason_code"] == "LIVE_TRADING_DISABLED"
    assert sent.to("zerodha.risk.control") == []
    assert kite.count() == 0
