"""The Zerodha venue against a local Kite REST server, through the real ``kiteconnect`` client."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import datetime, timezone

import pytest
from pydantic import SecretStr

from alphapanda.execution.venue import LIVE_TRADING_DISABLED, Failed, Fill, OrderRequest, Submitted
from alphapanda.execution.zerodha import ZerodhaVenue, order_tag
from alphapanda.models import OrderType, Side
from tests.support.kite_rest_server import Fault, KiteRestServer

API_KEY = "apikey7QX2"
ACCESS_TOKEN = "accesstokenZ9K4W"
INSTRUMENTS = {408065: ("NSE", "INFY"), 738561: ("NSE", "RELIANCE")}


def make_order(order_id: str = "ord-1", *, instrument_token: int = 408065, quantity: int = 5,
               order_type: OrderType = OrderType.MARKET, limit_price: float | None = None) -> OrderRequest:
    return OrderRequest(
        order_id=order_id, broker="zerodha", account_id="zerodha", signal_id=f"sig-{order_id}",
        strategy_id="momentum_v1", instrument_token=instrument_token, side=Side.BUY,
        quantity=quantity, order_type=order_type, limit_price=limit_price,
        reference_price=1500.0, created_at=datetime(2026, 11, 21, 3, 45, tzinfo=timezone.utc),
    )


@pytest.fixture
async def kite():
    async with KiteRestServer(api_key=API_KEY, access_token=ACCESS_TOKEN) as server:
        yield server


@pytest.fixture
async def make_venue(kite):
    venues: list[ZerodhaVenue] = []

    def build(**options) -> ZerodhaVenue:
        settings = dict(
            enabled=True, api_key=SecretStr(API_KEY), access_token=SecretStr(ACCESS_TOKEN),
            instrument_lookup=INSTRUMENTS.get, root=kite.root, timeout=0.5,
            max_retries=3, retry_backoff=0.02, retry_backoff_max=0.1,
        )
        settings.update(options)
        venue = ZerodhaVenue(**settings)
        venues.append(venue)
        return venue

    yield build
    for venue in venues:
        await venue.stop()


async def test_an_accepted_order_is_submitted_with_kites_order_id(kite, make_venue):
    venue = make_venue()
    events = await venue.place(make_order(order_type=OrderType.LIMIT, limit_price=1499.5), None)

    [stored] = kite.orders.values()
    assert events == [Submitted("ord-1", stored["order_id"])]
    assert {k: stored[k] for k in ("exchange", "tradingsymbol", "transaction_type", "quantity",
                                   "product", "order_type", "price", "validity", "tag")} == {
        "exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": 5,
        "product": "MIS", "order_type": "LIMIT", "price": 1499.5, "validity": "DAY",
        "tag": order_tag("ord-1"),
    }
    health = venue.health()
    assert health.pop("circuit")["state"] == "closed"
    assert health == {"status": "ok", "enabled": True, "session_valid": True, "last_error": None, "orders_placed": 1}


async def test_a_disabled_venue_fails_every_order_without_calling_kite(kite, make_venue):
    venue = make_venue(enabled=False)
    [event] = await venue.place(make_order(), None)
    assert isinstance(event, Failed) and event.reason_code == LIVE_TRADING_DISABLED
    assert kite.count() == 0
    assert venue.health()["status"] == "disabled"


async def test_a_venue_without_credentials_is_disabled_even_when_enabled(kite, make_venue):
    venue = make_venue(access_token=None)
    [event] = await venue.place(make_order(), None)
    assert event.reason_code == LIVE_TRADING_DISABLED
    assert kite.count() == 0
    assert venue.health()["enabled"] is False


async def test_an_unknown_instrument_fails_without_calling_kite(kite, make_venue):
    venue = make_venue()
    [event] = await venue.place(make_order(instrument_token=999_999), None)
    assert event.reason_code == "INSTRUMENT_NOT_TRADABLE"
    assert kite.count() == 0


async def test_placing_the_same_order_again_does_not_place_it_twice(kite, make_venue):
    venue = make_venue()
    first, second = await asyncio.gather(venue.place(make_order(), None), venue.place(make_order(), None))
    again = await venue.place(make_order(), None)
    assert first == second == again
    assert len(kite.orders) == 1


async def test_a_rate_limited_request_is_retried_and_the_order_placed_once(kite, make_venue):
    venue = make_venue()
    kite.fail_next(Fault.RATE_LIMITED)
    [event] = await venue.place(make_order(), None)
    assert isinstance(event, Submitted)
    assert len(kite.orders) == 1
    assert kite.count("POST") == 2


async def test_a_server_error_after_recording_the_order_does_not_duplicate_it(kite, make_venue):
    venue = make_venue()
    kite.fail_next(Fault.SERVER_ERROR, record=True)
    [event] = await venue.place(make_order(), None)
    [stored] = kite.orders.values()
    assert event == Submitted("ord-1", stored["order_id"])
    assert kite.count("POST") == 1  # found by its tag, never sent again


async def test_a_gateway_error_page_is_retried(kite, make_venue):
    venue = make_venue()
    kite.fail_next(Fault.BAD_GATEWAY)
    [event] = await venue.place(make_order(), None)
    assert isinstance(event, Submitted)
    assert len(kite.orders) == 1


async def test_a_timed_out_order_that_was_recorded_is_not_placed_again(kite, make_venue):
    venue = make_venue(timeout=0.3)
    kite.fail_next(Fault.HANG, record=True, hang=1.0)
    [event] = await venue.place(make_order(), None)
    [stored] = kite.orders.values()
    assert event == Submitted("ord-1", stored["order_id"])
    assert kite.count("POST") == 1


async def test_a_timed_out_order_that_was_not_recorded_is_placed_on_retry(kite, make_venue):
    venue = make_venue(timeout=0.3)
    kite.fail_next(Fault.HANG, hang=1.0)
    [event] = await venue.place(make_order(), None)
    assert isinstance(event, Submitted)
    assert len(kite.orders) == 1
    assert kite.count("POST") == 2


async def test_when_retries_run_out_the_order_fails_as_venue_unavailable(kite, make_venue):
    venue = make_venue(max_retries=2)
    kite.fail_next(Fault.SERVER_ERROR, times=10)
    [event] = await venue.place(make_order(), None)
    assert event.reason_code == "VENUE_UNAVAILABLE"
    assert kite.count("POST") == 3
    assert not kite.orders
    health = venue.health()
    assert health["status"] == "degraded"
    assert "GeneralException" in health["last_error"]


async def test_an_unreachable_order_book_never_leads_to_a_blind_retry(kite, make_venue):
    venue = make_venue(max_retries=2)
    await venue.place(make_order("ord-0"), None)  # the order book has been read once
    kite.fail_next(Fault.SERVER_ERROR, record=True)
    kite.fail_next(Fault.SERVER_ERROR, times=10, method="GET")
    [event] = await venue.place(make_order("ord-1"), None)
    assert event.reason_code == "VENUE_UNAVAILABLE"
    assert kite.count("POST") == 2  # ord-1's outcome stayed unknown, so it was never sent again
    assert len(kite.orders) == 2


async def test_no_order_is_placed_before_the_order_book_could_be_read(kite, make_venue):
    venue = make_venue(max_retries=1)
    kite.fail_next(Fault.SERVER_ERROR, times=10, method="GET")
    [event] = await venue.place(make_order(), None)
    assert event.reason_code == "VENUE_UNAVAILABLE"
    assert kite.count("POST") == 0


async def test_a_rejected_order_fails_at_once_without_retries(kite, make_venue):
    venue = make_venue()
    kite.fail_next(Fault.INPUT)
    [event] = await venue.place(make_order(), None)
    assert event.reason_code == "VENUE_REJECTED"
    assert "quantity" in event.reason
    assert kite.count("POST") == 1


async def test_an_invalid_session_halts_the_venue_until_a_new_token(kite, make_venue):
    venue = make_venue()
    kite.fail_next(Fault.TOKEN)
    [event] = await venue.place(make_order("ord-1"), None)
    assert event.reason_code == "VENUE_SESSION_INVALID"
    assert venue.session_valid is False
    assert venue.health()["status"] == "session_invalid"

    requests_before = kite.count()
    [later] = await venue.place(make_order("ord-2"), None)
    assert later.reason_code == "VENUE_SESSION_INVALID"
    assert kite.count() == requests_before

    kite.access_token = "renewedtoken55"
    venue.reset_session(SecretStr("renewedtoken55"))
    [retried] = await venue.place(make_order("ord-2"), None)
    assert isinstance(retried, Submitted)
    assert venue.health()["status"] == "ok"


async def test_25_orders_at_once_keep_to_10_per_second_at_the_server(kite, make_venue):
    venue = make_venue(max_workers=4)
    started = time.monotonic()
    results = await asyncio.gather(*(venue.place(make_order(f"ord-{i}"), None) for i in range(25)))
    elapsed = time.monotonic() - started

    assert all(isinstance(r[0], Submitted) for r in results)
    assert len(kite.orders) == 25
    assert elapsed >= 2.0
    assert kite.max_placements_in_window(1.0) <= 10


async def test_a_hanging_server_does_not_block_the_event_loop(kite, make_venue):
    venue = make_venue(timeout=0.5, max_retries=0)
    kite.fail_next(Fault.HANG, hang=1.0)
    ticks: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    [event] = await venue.place(make_order(), None)
    stop.set()
    await task

    assert event.reason_code == "VENUE_UNAVAILABLE"
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert ticks[-1] - ticks[0] >= 0.4  # the order hung for the whole client timeout
    assert max(gaps) < 0.25


async def test_order_updates_become_fills_on_the_update_stream_once(kite, make_venue):
    venue = make_venue()
    [submitted] = await venue.place(make_order(quantity=10), None)
    kite.fill(submitted.venue_order_id, 4, 1500.0)
    partial = {"type": "order", "data": kite.fill(submitted.venue_order_id, 0, 1500.0)}
    complete = kite.fill(submitted.venue_order_id, 6, 1510.0)

    await venue.submit_order_update(partial)
    await venue.submit_order_update(partial)  # repeated frame
    await venue.submit_order_update(complete)  # postback
    await venue.submit_order_update(complete)
    await venue.stop()

    fills = [event async for event in venue.updates()]
    assert [(f.fill_id, f.quantity, f.price) for f in fills] == [("ord-1-4", 4, 1500.0),
                                                                  ("ord-1-10", 6, 1510.0)]
    assert all(isinstance(f, Fill) for f in fills)


async def test_after_a_restart_an_order_already_at_kite_is_found_not_placed_again(kite, make_venue):
    before = make_venue()
    [submitted] = await before.place(make_order(), None)
    await before.stop()

    after = make_venue()  # a new process: nothing in memory
    [found] = await after.place(make_order(), None)
    assert found == submitted
    assert len(kite.orders) == 1


async def test_credentials_never_reach_the_logs_or_health(kite, make_venue, caplog):
    caplog.set_level(logging.DEBUG)
    venue = make_venue(timeout=0.3, max_retries=1)
    kite.fail_next(Fault.HANG, hang=1.0, record=True)
    await venue.place(make_order("ord-1"), None)
    kite.fail_next(Fault.TOKEN)
    await venue.place(make_order("ord-2"), None)

    text = caplog.text + repr(venue.health()) + repr(vars(venue))
    assert caplog.records  # the venue did log
    assert API_KEY not in text
    assert ACCESS_TOKEN not in text


async def test_stop_leaves_no_thread_behind(kite, make_venue):
    venue = make_venue(broker="zerodha_stop_test")
    await venue.start()
    await venue.place(make_order(), None)
    await venue.stop()
    assert not [t for t in threading.enumerate() if t.name.startswith("zerodha_stop_test")]


# The lane's side: updates against the order table's state, postbacks, halting -----------------


def working(order: OrderRequest, filled: int = 0, average: float | None = None):
    from alphapanda.execution.venue import WorkingOrder

    return WorkingOrder(order, filled, average)


async def test_an_invalid_session_asks_for_trading_to_halt(kite, make_venue):
    venue = make_venue()
    kite.fail_next(Fault.TOKEN)
    [first] = await venue.place(make_order("ord-1"), None)
    [second] = await venue.place(make_order("ord-2"), None)
    assert first.halts_trading and second.halts_trading
    assert first.reason_code == second.reason_code == "VENUE_SESSION_INVALID"


async def test_an_update_is_measured_against_what_the_order_table_knows_not_memory(kite, make_venue):
    placed = make_venue()
    order = make_order(quantity=10)
    [submitted] = await placed.place(order, None)
    kite.fill(submitted.venue_order_id, 4, 1500.0)
    snapshot = kite.fill(submitted.venue_order_id, 2, 1503.0)

    restarted = make_venue()  # a new process: knows nothing of the order but its table record
    assert restarted.update_ref(snapshot) == order_tag("ord-1")
    [fill] = await restarted.on_update(working(order, 4, 1500.0), snapshot)
    assert (fill.quantity, fill.price, fill.fill_id) == (2, 1503.0, "ord-1-6")
    assert await restarted.on_update(working(order, 6, 1501.0), snapshot) == []


async def test_a_websocket_frame_and_a_postback_of_one_update_name_the_same_order(kite, make_venue):
    venue = make_venue()
    [submitted] = await venue.place(make_order(), None)
    update = kite.fill(submitted.venue_order_id, 5, 1500.0)
    assert venue.update_ref({"type": "order", "data": update}) == venue.update_ref(update) == order_tag("ord-1")
    assert venue.update_ref({"type": "error", "data": "oops"}) is None
    assert venue.update_ref({**update, "tag": "manual"}) is None


def _checksum(payload: dict, secret: str) -> str:
    import hashlib

    return hashlib.sha256(f"{payload['order_id']}{payload['order_timestamp']}{secret}".encode()).hexdigest()


async def test_a_postback_needs_kites_checksum_when_the_api_secret_is_set(kite, make_venue):
    venue = make_venue(api_secret=SecretStr("s3cret"))
    payload = {"order_id": "250000000000001", "order_timestamp": "2026-11-23 09:30:00", "status": "COMPLETE"}
    assert venue.postback_error({**payload, "checksum": _checksum(payload, "s3cret")}) is None
    assert venue.postback_error({**payload, "checksum": _checksum(payload, "other")}) == "checksum does not match"
    assert venue.postback_error(payload) == "checksum does not match"
    # No secret configured: nothing could be checked, so postbacks are off.
    assert make_venue().postback_refusal() == "postbacks are off: ZERODHA__API_SECRET is unset, so their checksum cannot be verified"
    assert make_venue().postback_error({**payload, "checksum": _checksum(payload, "")}) == make_venue().postback_refusal()
    assert venue.postback_refusal() is None
    assert make_venue().postback_error({"status": "COMPLETE"}) is not None


async def test_a_run_of_kite_failures_opens_the_circuit_orders_fail_at_once_then_one_try_closes_it(kite, make_venue):
    now = [1000.0]
    venue = make_venue(max_retries=5, circuit_failures=3, circuit_cooldown=30.0, clock=lambda: now[0])
    kite.fail_next(Fault.SERVER_ERROR, times=3)
    [event] = await venue.place(make_order("ord-1"), None)
    # Three failed attempts opened the circuit: the retries stopped there, not after six.
    assert event.reason_code == "VENUE_CIRCUIT_OPEN" and kite.count("POST") == 3
    health = venue.health()
    assert health["status"] == "circuit_open"
    assert health["circuit"] == {"state": "open", "consecutive_failures": 3, "threshold": 3,
                                 "cooldown_seconds": 30.0, "retry_in_seconds": 30.0, "times_opened": 1}
    # Meanwhile orders fail at once, without a request to Kite.
    [event] = await venue.place(make_order("ord-2"), None)
    assert event.reason_code == "VENUE_CIRCUIT_OPEN" and "30 s more" in event.reason and kite.count("POST") == 3
    # After the cool-down one order may try; Kite is back, so it is placed and the circuit closes.
    now[0] += 30.0
    [event] = await venue.place(make_order("ord-3"), None)
    assert isinstance(event, Submitted) and venue.health()["status"] == "ok"
    assert venue.health()["circuit"]["state"] == "closed"


async def test_a_failed_try_after_the_cooldown_opens_the_circuit_again_at_once(kite, make_venue):
    now = [0.0]
    venue = make_venue(max_retries=0, circuit_failures=2, circuit_cooldown=10.0, clock=lambda: now[0])
    kite.fail_next(Fault.SERVER_ERROR, times=10)
    assert [(await venue.place(make_order(f"ord-{i}"), None))[0].reason_code for i in range(3)] == [
        "VENUE_UNAVAILABLE", "VENUE_UNAVAILABLE", "VENUE_CIRCUIT_OPEN"]
    now[0] += 10.0
    [event] = await venue.place(make_order("ord-9"), None)
    assert event.reason_code == "VENUE_UNAVAILABLE" and venue.health()["status"] == "circuit_open"
