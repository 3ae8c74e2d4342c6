"""The asyncio KiteTicker against a local server speaking Kite's ticker protocol."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from typing import AsyncIterator

import aiohttp
import pytest

from alphapanda.market.instruments import load_instrument_master
from alphapanda.market.kite.ticker import KiteTicker, KiteTickerError
from alphapanda.models import MarketTick
from tests.support.kite_ticker_server import KiteTickerServer

INFY = 408065
RELIANCE = 738561
NIFTY_50 = 256265
API_KEY = "kitekey123"
ACCESS_TOKEN = "SECRET+tok/en=="  # characters that URL encoding changes


class Feed:
    """Collects what the ticker hands to its callbacks."""

    def __init__(self) -> None:
        self.ticks: list[MarketTick] = []
        self.batches = 0
        self.orders: list[dict] = []
        self.states: list[str] = []

    async def on_ticks(self, ticks: list[MarketTick]) -> None:
        self.batches += 1
        self.ticks.extend(ticks)

    async def on_order_update(self, data: dict) -> None:
        self.orders.append(data)

    def tokens_seen(self) -> set[int]:
        return {t.instrument_token for t in self.ticks}


@pytest.fixture
async def server() -> AsyncIterator[KiteTickerServer]:
    async with KiteTickerServer(tick_interval=0.01, api_key=API_KEY,
                                access_token=ACCESS_TOKEN) as s:
        yield s


def make_ticker(server: KiteTickerServer, feed: Feed, **overrides) -> KiteTicker:
    options = dict(
        tokens=[INFY, NIFTY_50], mode="quote", root=server.url, on_ticks=feed.on_ticks,
        on_order_update=feed.on_order_update, on_state_change=feed.states.append,
        initial_backoff=0.01, max_backoff=0.05, heartbeat_timeout=2.0, max_retries=3,
    )
    options.update(overrides)
    return KiteTicker(options.pop("api_key", API_KEY), options.pop("access_token", ACCESS_TOKEN),
                      **options)


@contextlib.asynccontextmanager
async def running(ticker: KiteTicker) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(ticker.run())
    try:
        yield task
    finally:
        await ticker.stop()
        await asyncio.wait({task})


async def wait_for(condition, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


@pytest.mark.parametrize("mode", ["ltp", "quote", "full"])
async def test_ticks_arrive_in_the_subscribed_mode(server, mode):
    feed = Feed()
    async with running(make_ticker(server, feed, mode=mode)):
        await wait_for(lambda: feed.tokens_seen() == {INFY, NIFTY_50})
    infy = next(t for t in feed.ticks if t.instrument_token == INFY)
    nifty = next(t for t in feed.ticks if t.instrument_token == NIFTY_50)
    assert infy.last_price > 0 and nifty.last_price > 0
    if mode == "ltp":
        assert infy.ohlc is None and infy.volume is None and nifty.ohlc is None
    if mode == "quote":
        assert infy.volume is not None and infy.ohlc is not None and infy.depth is None
        assert nifty.ohlc is not None  # indices are market data too
    if mode == "full":
        assert len(infy.depth.buy) == len(infy.depth.sell) == 5
        assert infy.depth.buy[0].price < infy.last_price < infy.depth.sell[0].price


async def test_a_connection_subscribes_once_then_sets_the_mode(server):
    feed = Feed()
    async with running(make_ticker(server, feed, mode="full")):
        await wait_for(lambda: feed.ticks)
    (connection,) = server.connections
    assert connection.messages == [
        {"a": "subscribe", "v": [INFY, NIFTY_50]},
        {"a": "mode", "v": ["full", [INFY, NIFTY_50]]},
    ]
    assert connection.query == {"api_key": API_KEY, "access_token": ACCESS_TOKEN}


@pytest.mark.parametrize("abrupt", [False, True], ids=["close-frame", "reset"])
async def test_after_a_server_drop_it_reconnects_and_resubscribes_once(server, abrupt):
    feed = Feed()
    async with running(make_ticker(server, feed)) as task:
        await wait_for(lambda: feed.ticks)
        await server.drop_all(abrupt=abrupt)
        await wait_for(lambda: len(server.connections) == 2 and server.connections[1].frames_sent >= 3)
        ticks_after_reconnect = len(feed.ticks)
        await wait_for(lambda: len(feed.ticks) > ticks_after_reconnect)
        assert not task.done()
    assert [(c.count("subscribe"), c.count("mode")) for c in server.connections] == [(1, 1), (1, 1)]
    assert server.connections[1].subscriptions == {INFY: "quote", NIFTY_50: "quote"}


async def test_state_goes_connecting_connected_reconnecting_connected_stopped(server):
    feed = Feed()
    async with running(make_ticker(server, feed)):
        await wait_for(lambda: feed.ticks)
        await server.drop_all()
        await wait_for(lambda: len(server.connections) == 2 and feed.states[-1] == "connected")
    assert feed.states == ["connecting", "connected", "reconnecting", "connected", "stopped"]


async def test_an_order_update_text_frame_reaches_on_order_update(server):
    feed = Feed()
    update = {"order_id": "230101000000001", "status": "COMPLETE", "tag": "ap123",
              "filled_quantity": 5, "average_price": 1500.25}
    async with running(make_ticker(server, feed)) as ticker_task:
        await wait_for(lambda: server.open_connections and feed.ticks)
        await server.push_order_update(update)
        await server.push_text({"type": "error", "data": "token limit exceeded"})
        await server.push_text({"type": "message", "data": "market opens at 09:15"})
        await wait_for(lambda: feed.orders)
        assert not ticker_task.done()
    assert feed.orders == [update]


async def test_a_silent_connection_is_treated_as_dead(server):
    feed = Feed()
    async with running(make_ticker(server, feed, heartbeat_timeout=0.2)):
        await wait_for(lambda: feed.ticks)
        server.silent = True
        await wait_for(lambda: len(server.connections) >= 2)
        server.silent = False
        seen = len(feed.ticks)
        await wait_for(lambda: len(feed.ticks) > seen)
    assert not server.connections[0].open


async def test_refused_connections_within_the_retry_budget_are_retried(server):
    feed = Feed()
    server.refuse(2)
    async with running(make_ticker(server, feed, max_retries=2)):
        await wait_for(lambda: feed.ticks)
    assert server.attempts == 3


async def test_exhausted_retries_end_in_state_failed(server):
    feed = Feed()
    server.refuse(100)
    ticker = make_ticker(server, feed, max_retries=2)
    with pytest.raises(KiteTickerError, match="3 failed connection attempts") as raised:
        await ticker.run()
    assert ticker.state == "failed" and feed.states[-1] == "failed"
    assert server.attempts == 3  # the first attempt and two retries
    assert ACCESS_TOKEN not in str(raised.value)


async def test_an_unreachable_server_counts_as_a_failed_attempt():
    feed = Feed()
    async with KiteTickerServer() as gone:
        url = gone.url
    ticker = KiteTicker(API_KEY, ACCESS_TOKEN, tokens=[INFY], root=url, on_ticks=feed.on_ticks,
                        max_retries=1, initial_backoff=0.01, max_backoff=0.01)
    with pytest.raises(KiteTickerError, match="2 failed connection attempts"):
        await ticker.run()


async def test_rejected_credentials_fail_at_once_without_retrying(server):
    feed = Feed()
    ticker = make_ticker(server, feed, access_token="expired-token", max_retries=5)
    with pytest.raises(KiteTickerError, match="HTTP 403"):
        await ticker.run()
    assert ticker.state == "failed" and server.attempts == 1


async def test_stop_leaves_no_task_and_no_open_session(server):
    before = asyncio.all_tasks()
    feed = Feed()
    ticker = make_ticker(server, feed)
    run_task = asyncio.create_task(ticker.run())
    await wait_for(lambda: feed.ticks)
    await ticker.stop()
    assert run_task.done() and run_task.exception() is None
    leftover = [
        t for t in asyncio.all_tasks() - before
        # The server's own per-connection tasks wind down on their side of the socket.
        if not t.get_name().startswith("kite-test-server")
        and "web_protocol" not in t.get_coro().cr_code.co_filename
    ]
    assert leftover == []
    assert ticker.state == "stopped"
    open_sessions = [o for o in gc.get_objects()
                     if isinstance(o, aiohttp.ClientSession) and not o.closed]
    assert open_sessions == []


async def test_stop_while_backing_off_returns_promptly(server):
    feed = Feed()
    server.refuse(100)
    ticker = make_ticker(server, feed, initial_backoff=30.0, max_backoff=30.0)
    run_task = asyncio.create_task(ticker.run())
    await wait_for(lambda: server.attempts == 1 and ticker.state == "reconnecting")
    async with asyncio.timeout(1.0):
        await ticker.stop()
        await run_task
    assert ticker.state == "stopped"


async def test_stop_from_inside_the_tick_callback_ends_run(server):
    batches = []

    async def take_three(ticks: list[MarketTick]) -> None:
        batches.append(ticks)
        if len(batches) == 3:
            await ticker.stop()

    ticker = make_ticker(server, Feed(), on_ticks=take_three)
    async with asyncio.timeout(5):
        await ticker.run()
    assert len(batches) == 3 and ticker.state == "stopped"


async def test_credentials_are_never_logged(server, caplog):
    caplog.set_level(logging.DEBUG)
    feed = Feed()
    server.refuse(1)  # a handshake error: aiohttp puts the full URL into its message
    async with running(make_ticker(server, feed)):
        await wait_for(lambda: feed.ticks)
        await server.drop_all(abrupt=True)
        await wait_for(lambda: len(server.connections) == 2)
    bad = make_ticker(server, feed, access_token=ACCESS_TOKEN + "x", max_retries=0)
    with pytest.raises(KiteTickerError):
        await bad.run()
    assert "connecting to ws://127.0.0.1" in caplog.text  # the URL is logged, masked
    for secret in (ACCESS_TOKEN, "SECRET%2Btok%2Fen", API_KEY):
        assert secret not in caplog.text


async def test_ticks_carry_the_trading_symbol_from_the_instrument_master(server):
    feed = Feed()
    ticker = make_ticker(server, feed, tokens=[RELIANCE, NIFTY_50],
                         instruments=load_instrument_master())
    async with running(ticker):
        await wait_for(lambda: feed.tokens_seen() == {RELIANCE, NIFTY_50})
    assert {t.instrument_token: t.tradingsymbol for t in feed.ticks} == {
        RELIANCE: "RELIANCE", NIFTY_50: "NIFTY 50",
    }


async def test_a_malformed_frame_is_counted_and_logged_and_the_stream_goes_on(server, caplog):
    feed = Feed()
    ticker = make_ticker(server, feed)
    async with running(ticker):
        await wait_for(lambda: feed.ticks)
        await server.push_frame(b"\x00\x02\x00\x08" + bytes(8))  # declares 2 packets, has 1
        await wait_for(lambda: ticker.stats.malformed_frames == 1)
        seen = len(feed.ticks)
        await wait_for(lambda: len(feed.ticks) > seen)
    assert "malformed Kite ticker frame" in caplog.text
    assert len(server.connections) == 1


async def test_a_failing_tick_callback_ends_run_with_its_error(server):
    async def broken(ticks: list[MarketTick]) -> None:
        raise LookupError("consumer bug")

    ticker = make_ticker(server, Feed(), on_ticks=broken)
    with pytest.raises(LookupError, match="consumer bug"):
        async with asyncio.timeout(5):
            await ticker.run()
    assert ticker.state == "failed" and len(server.connections) == 1
