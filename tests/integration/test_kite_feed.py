"""The kite feed through a real broker: a local Kite ticker server in, Kafka topics out."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from typing import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from alphapanda.kafka_io import topic_partitions
from alphapanda.market.feeds import FeedRunner, FeedState, KiteFeed
from alphapanda.market.hours import IST, MarketHours
from alphapanda.market.instruments import load_instrument_master
from alphapanda.market.publisher import TickPublisher
from tests.support.kite_ticker_server import KiteTickerServer
from tests.support.pipeline import Cluster

INFY, RELIANCE, NIFTY_50 = 408065, 738561, 256265
API_KEY, ACCESS_TOKEN = "kitekey123", "SECRET+tok/en=="
FAST = dict(initial_backoff=0.01, max_backoff=0.05, heartbeat_timeout=2.0, max_retries=3)


@pytest.fixture
def kafka(tmp_path) -> Cluster:
    cluster = Cluster(tmp_path, brokers=("paper", "zerodha"), partitions=4).start()
    yield cluster
    cluster.stop()


@pytest.fixture
async def server() -> AsyncIterator[KiteTickerServer]:
    async with KiteTickerServer(tick_interval=0.02, api_key=API_KEY, access_token=ACCESS_TOKEN) as s:
        yield s


def kite_feed(server: KiteTickerServer, **overrides) -> KiteFeed:
    options = dict(
        tokens=[INFY, RELIANCE, NIFTY_50], mode="quote", root=server.url,
        instruments=load_instrument_master(), order_updates_topic="zerodha.orders.updates",
        ticker_options=dict(FAST),
    )
    options.update(overrides)
    return KiteFeed(API_KEY, ACCESS_TOKEN, **options)


def runner_for(kafka: Cluster, feed: KiteFeed) -> FeedRunner:
    return FeedRunner(lambda: feed, lambda: TickPublisher(kafka.bootstrap), FeedState(kind="kite", worker="test:1"))


async def until(condition, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def read(kafka: Cluster, topic: str, *, expect: int, timeout: float = 10.0) -> list[tuple[str, dict]]:
    """(key, event) of every message on ``topic``, once at least ``expect`` are there."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = await topic_partitions(consumer, topic)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records = []
        async with asyncio.timeout(timeout):
            while len(records) < expect:
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    records.extend(batch)
        return [(r.key.decode(), json.loads(r.value)) for r in records]
    finally:
        await consumer.stop()


async def test_ticks_land_on_market_ticks_keyed_by_token_with_their_symbol(kafka, server):
    runner = runner_for(kafka, kite_feed(server))
    runner.start()
    await until(lambda: runner.state.published >= 30)
    await runner.stop("test over")
    published = runner.state.published
    ticks = await read(kafka, "market.ticks", expect=published)
    assert len(ticks) == published
    assert all(key == str(e["data"]["instrument_token"]) and e["type"] == "market_tick" for key, e in ticks)
    assert {e["data"]["tradingsymbol"] for _, e in ticks} == {"INFY", "RELIANCE", "NIFTY 50"}
    assert all(e["source"] == "kite_feed" and e["broker"] is None for _, e in ticks)


async def test_after_a_server_side_disconnect_ticks_resume_without_a_second_subscription(kafka, server):
    runner = runner_for(kafka, kite_feed(server))
    runner.start()
    await until(lambda: runner.state.published > 0 and runner.state.connection == "connected")
    await server.drop_all()
    await until(lambda: len(server.connections) == 2 and runner.state.connection == "connected")
    resumed_from = runner.state.published
    await until(lambda: runner.state.published >= resumed_from + 15)
    assert runner.state.running and runner.state.error is None
    await runner.stop("test over")
    assert [(c.count("subscribe"), c.count("mode")) for c in server.connections] == [(1, 1), (1, 1)]
    ticks = await read(kafka, "market.ticks", expect=runner.state.published)
    assert len(ticks) == runner.state.published


async def test_an_order_update_text_frame_lands_on_zerodha_orders_updates(kafka, server):
    update = {"order_id": "230101000000001", "status": "COMPLETE", "tag": "ap1a2b3c",
              "filled_quantity": 5, "average_price": 1500.25, "tradingsymbol": "INFY"}
    runner = runner_for(kafka, kite_feed(server))
    runner.start()
    await until(lambda: runner.state.connection == "connected" and server.open_connections)
    await server.push_order_update(update)
    await until(lambda: runner.state.order_updates == 1)
    await runner.stop("test over")
    ((key, event),) = await read(kafka, "zerodha.orders.updates", expect=1)
    assert key == "zerodha" and event["type"] == "venue_order_update" and event["broker"] == "zerodha"
    assert event["data"] == {"via": "websocket", "payload": update}


async def test_outside_market_hours_ticks_are_held_back_and_order_updates_still_flow(kafka, server):
    today = datetime.now(timezone.utc).astimezone(IST).date()
    closed = MarketHours(frozenset({today}))  # a holiday today: no session at all
    runner = runner_for(kafka, kite_feed(server, hours=closed))
    runner.start()
    await until(lambda: runner.state.held_back >= 10)
    await server.push_order_update({"order_id": "1", "status": "CANCELLED"})
    await until(lambda: runner.state.order_updates == 1)
    await runner.stop("test over")
    assert runner.state.published == 0 and runner.state.market_open is False
    assert len(await read(kafka, "zerodha.orders.updates", expect=1)) == 1


async def test_when_reconnecting_gives_up_the_state_is_failed_without_credentials(kafka, server):
    server.refuse(100)
    runner = runner_for(kafka, kite_feed(server, ticker_options=dict(FAST, max_retries=1)))
    runner.start()
    await until(lambda: runner.state.error is not None)
    assert not runner.state.running and runner.state.stopped_reason == "failed"
    assert "gave up after 2 failed connection attempts" in runner.state.error
    assert ACCESS_TOKEN not in runner.state.error and API_KEY not in runner.state.error
    assert runner.state.connection == "failed" and server.attempts == 2
    await runner.stop("test over")


async def test_stopping_the_feed_leaves_no_task_and_closes_the_connection(kafka, server):
    before = asyncio.all_tasks()
    runner = runner_for(kafka, kite_feed(server))
    runner.start()
    await until(lambda: runner.state.published > 0)
    await runner.stop("worker stopping")
    await until(lambda: not server.open_connections)
    leftover = [t for t in asyncio.all_tasks() - before
                if not t.get_name().startswith("kite-test-server")
                and "web_protocol" not in t.get_coro().cr_code.co_filename]
    assert leftover == []
    assert not runner.state.running and runner.state.stopped_reason == "worker stopping"
    assert runner.state.connection == "stopped"
