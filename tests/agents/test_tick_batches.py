"""Ticks a fetch at a time: the consumer's hand-over, the stage's checkpoints, and a failed fetch.

The real app, its consumer object (not started: no broker) and the strategy stage's handler,
with the records of a "fetch" given to the consumer as its fetcher would.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from aiokafka import ConsumerRecord
from faust.types import TP

from alphapanda.agents import strategy_runner as stage
from alphapanda.app import app
from alphapanda.batch_topics import Fetched, batch_handlers
from alphapanda.market.publisher import tick_envelope
from alphapanda.models import MarketTick
from alphapanda.models.wire import encode_event
from alphapanda.strategies.book import StrategyBook
from alphapanda.strategies.config import StrategyConfig
from alphapanda.strategy_runner import StrategyRunner
from alphapanda.tables import strategy_state
from alphapanda.topics import MARKET_TICKS, dlq_of

T0 = datetime(2026, 11, 23, 3, 45, tzinfo=timezone.utc)
TOKEN_A, TOKEN_B = 408065, 738561  # partitions 0 and 3 below
SIGNALS = "paper.signals.raw"


def record(partition: int, offset: int, value: bytes | None, topic: str = MARKET_TICKS) -> ConsumerRecord:
    return ConsumerRecord(topic, partition, offset, 0, 0, b"k", value, None, 1, len(value or b""), [])


def tick(token: int, price: float, second: int) -> bytes:
    event = tick_envelope(MarketTick(instrument_token=token, last_price=price, timestamp=T0 + timedelta(seconds=second)),
                          source="test", event_id=f"t{token}-{second}")
    return encode_event(event)


def fetched(partition: int, first_offset: int, values: list[bytes | None]) -> Fetched:
    records = [record(partition, first_offset + i, value) for i, value in enumerate(values)]
    return Fetched(TP(MARKET_TICKS, partition), records, app.consumer_generation_id)


@pytest.fixture
def consumer(monkeypatch):
    consumer = app.consumer
    monkeypatch.setattr(consumer, "highwater", lambda tp: 1000)
    monkeypatch.setattr(consumer, "_acked_through", {})
    monkeypatch.setattr(consumer, "_read_offset", type(consumer._read_offset)(lambda: None))
    return consumer


@pytest.fixture
def momentum(monkeypatch):
    """The stage with one momentum strategy (lookback 1, 1% threshold) on two instruments."""
    book = StrategyBook.from_configs([StrategyConfig(
        id="mom", kind="momentum", params={"lookback": 1, "threshold": 0.01, "quantity": 2},
        instruments=[TOKEN_A, TOKEN_B], brokers=["paper"],
    )])
    runner = StrategyRunner(book=book, active_brokers=["paper"], live_brokers=[], states=strategy_state)
    monkeypatch.setattr(stage, "runner", runner)
    monkeypatch.setattr(stage, "checkpoints", stage.Checkpoints())
    return runner


async def test_a_fetch_of_ticks_goes_to_the_handler_at_once_and_the_rest_to_the_streams(consumer, monkeypatch):
    handed: list[list[Fetched]] = []

    async def handler(batches):
        handed.append(batches)

    monkeypatch.setitem(batch_handlers(app), MARKET_TICKS, handler)
    ticks0 = [record(0, offset, b"{}") for offset in range(5, 8)]
    ticks3 = [record(3, offset, b"{}") for offset in range(0, 2)]
    other = [record(1, 9, b"{}", topic=SIGNALS)]
    records = {TP(MARKET_TICKS, 0): ticks0, TP(SIGNALS, 1): other, TP(MARKET_TICKS, 3): ticks3}

    async def wait_next_records(timeout):
        return records, None

    monkeypatch.setattr(consumer, "_wait_next_records", wait_next_records)
    consumer._read_offset[TP(MARKET_TICKS, 0)] = 6  # offset 5 was handed over before (fetched twice)
    delivered = [(tp, message.offset) async for tp, message in consumer.getmany(1.0)]

    assert delivered == [(TP(SIGNALS, 1), 9)]  # only the other topic goes through Faust's messages
    assert len(handed) == 1  # one call for the whole fetch
    assert [(f.tp, [r.offset for r in f.records]) for f in handed[0]] == [
        (TP(MARKET_TICKS, 0), [6, 7]), (TP(MARKET_TICKS, 3), [0, 1]),
    ]
    assert {f.generation_id for f in handed[0]} == {app.consumer_generation_id}
    # Read offsets move as Faust's do (the last offset read), so consumer lag stays right.
    assert consumer._read_offset[TP(MARKET_TICKS, 0)] == 7 and consumer._read_offset[TP(MARKET_TICKS, 3)] == 1


async def test_records_of_a_partition_paused_meanwhile_are_fetched_again(consumer, monkeypatch):
    handed, seeks = [], []

    async def handler(batches):
        handed.append(batches)

    async def seek(tp, offset):
        seeks.append((tp, offset))

    monkeypatch.setitem(batch_handlers(app), MARKET_TICKS, handler)
    monkeypatch.setattr(consumer, "seek", seek)
    monkeypatch.setattr(consumer, "assignment", lambda: {TP(MARKET_TICKS, 0)})
    records = {TP(MARKET_TICKS, 0): [record(0, 4, b"{}"), record(0, 5, b"{}")]}

    async def wait_next_records(timeout):
        return records, set()  # nothing active any more: paused between the fetch and now

    monkeypatch.setattr(consumer, "_wait_next_records", wait_next_records)
    assert [item async for item in consumer.getmany(1.0)] == []
    assert handed == [] and seeks == [(TP(MARKET_TICKS, 0), 4)]


async def test_what_the_handler_acknowledges_is_what_faust_commits_and_never_less(consumer, monkeypatch):
    committed: list[dict] = []

    async def commit_offsets(offsets, start_new_transaction=True):
        committed.append(dict(offsets))
        consumer._committed_offset.update(offsets)
        return True

    monkeypatch.setattr(consumer, "_commit_offsets", commit_offsets)
    tp = TP(MARKET_TICKS, 2)
    consumer.ack_through(tp, 42)
    consumer.ack_through(tp, 40)  # an older checkpoint's offset never moves it back
    await consumer.force_commit()
    assert committed == [{tp: 42}]
    await consumer.force_commit()
    assert committed == [{tp: 42}]  # nothing new to commit
    consumer.ack_through(tp, 42)
    await consumer.force_commit()
    assert committed == [{tp: 42}]  # already committed
    consumer.ack_through(tp, 57)
    await consumer.force_commit()
    assert committed == [{tp: 42}, {tp: 57}]


async def test_signals_are_sent_bad_ticks_dead_lettered_and_a_checkpoint_covers_its_ticks(
    consumer, momentum, sent, monkeypatch,
):
    monkeypatch.setattr(stage, "CHECKPOINT_INTERVAL", 3600.0)
    await stage.handle_ticks([
        fetched(0, 10, [tick(TOKEN_A, 100.0, 0), b"not json", tick(TOKEN_A, 102.0, 1)]),
        fetched(3, 0, [tick(TOKEN_B, 50.0, 0)]),
    ])
    signals = sent.to(SIGNALS)
    assert [(s["data"]["signal_type"], s["causation_id"]) for s in signals] == [("BUY", f"t{TOKEN_A}-1")]
    letters = sent.to(dlq_of(MARKET_TICKS))
    assert len(letters) == 1 and "not valid JSON" in str(letters[0])
    # Nothing is stored or committable before a checkpoint.
    assert str(TOKEN_A) not in strategy_state and consumer._acked_through == {}
    assert stage.checkpoints.held == 4

    stage.checkpoints.checkpoint(0)
    assert strategy_state[str(TOKEN_A)]["mom"]["n"] == 2  # the state after both good ticks
    assert str(TOKEN_B) not in strategy_state  # partition 3's instrument waits for its own checkpoint
    assert consumer._acked_through == {TP(MARKET_TICKS, 0): 13}  # after the last tick handled (12)
    assert stage.checkpoints.held == 1


async def test_a_partition_waits_for_its_signals_acknowledgements_before_its_checkpoint(
    consumer, momentum, sent, monkeypatch,
):
    monkeypatch.setattr(stage, "CHECKPOINT_INTERVAL", 3600.0)
    in_flight = asyncio.get_running_loop().create_future()

    async def enqueue(outputs):
        return [in_flight]

    monkeypatch.setattr(stage.path, "enqueue", enqueue)
    await stage.handle_ticks([fetched(0, 0, [tick(TOKEN_A, 100.0, 0), tick(TOKEN_A, 102.0, 1)])])
    assert stage.checkpoints.checkpoint(0) is False  # the BUY is not acknowledged yet
    assert str(TOKEN_A) not in strategy_state and consumer._acked_through == {}
    in_flight.set_result(None)
    assert stage.checkpoints.checkpoint(0) is True
    assert strategy_state[str(TOKEN_A)]["mom"]["n"] == 2 and consumer._acked_through == {TP(MARKET_TICKS, 0): 2}


async def test_a_failed_send_starts_over_from_the_last_checkpoint(consumer, momentum, sent, monkeypatch):
    monkeypatch.setattr(stage, "CHECKPOINT_INTERVAL", 3600.0)
    monkeypatch.setattr(stage, "RETRY_PAUSE", 0.0)
    monkeypatch.setattr(consumer, "assignment", lambda: {TP(MARKET_TICKS, 0), TP(MARKET_TICKS, 3)})
    rewinds = []

    async def rewind(app_, tp, offset):
        rewinds.append((tp, offset))

    monkeypatch.setattr(stage, "rewind", rewind)
    await stage.handle_ticks([fetched(3, 20, [tick(TOKEN_B, 50.0, 0)])])  # held, not checkpointed
    await stage.handle_ticks([fetched(3, 21, [tick(TOKEN_B, 50.1, 1)])])
    assert momentum.working_state(str(TOKEN_B)) is not None

    failed = asyncio.get_running_loop().create_future()
    failed.set_exception(RuntimeError("broker gone"))

    async def enqueue(outputs):
        return [failed]

    monkeypatch.setattr(stage.path, "enqueue", enqueue)
    monkeypatch.setattr(stage, "CHECKPOINT_INTERVAL", 0.0)  # so this fetch's checkpoint finds the failure
    await stage.handle_ticks([fetched(0, 7, [tick(TOKEN_A, 100.0, 0), tick(TOKEN_A, 102.0, 1)]),
                              fetched(3, 22, [tick(TOKEN_B, 50.2, 2)])])

    # Every partition goes back to its first tick not checkpointed, the held one too, and the
    # working state is gone (the next tick reloads the stored state): nothing is written.
    assert sorted(rewinds) == [(TP(MARKET_TICKS, 0), 7), (TP(MARKET_TICKS, 3), 20)]
    assert momentum.working_state(str(TOKEN_A)) is None and momentum.working_state(str(TOKEN_B)) is None
    assert stage.checkpoints.held == 0 and consumer._acked_through == {}
    assert str(TOKEN_A) not in strategy_state and str(TOKEN_B) not in strategy_state


async def test_a_fetch_that_fails_midway_starts_over_too(consumer, momentum, sent, monkeypatch):
    monkeypatch.setattr(stage, "RETRY_PAUSE", 0.0)
    monkeypatch.setattr(consumer, "assignment", lambda: {TP(MARKET_TICKS, 0)})
    rewinds = []

    async def rewind(app_, tp, offset):
        rewinds.append((tp, offset))

    async def enqueue(outputs):
        raise RuntimeError("producer stopped")

    monkeypatch.setattr(stage, "rewind", rewind)
    monkeypatch.setattr(stage.path, "enqueue", enqueue)
    await stage.handle_ticks([fetched(0, 7, [tick(TOKEN_A, 100.0, 0), tick(TOKEN_A, 102.0, 1)])])
    assert rewinds == [(TP(MARKET_TICKS, 0), 7)]
    assert momentum.working_state(str(TOKEN_A)) is None and stage.checkpoints.held == 0


async def test_ticks_held_from_before_a_rebalance_are_never_written(consumer, momentum, sent, monkeypatch):
    monkeypatch.setattr(stage, "CHECKPOINT_INTERVAL", 3600.0)
    await stage.handle_ticks([fetched(0, 0, [tick(TOKEN_A, 100.0, 0)])])
    monkeypatch.setattr(app, "consumer_generation_id", app.consumer_generation_id + 1)
    stage.checkpoints.checkpoint(0)
    assert str(TOKEN_A) not in strategy_state and consumer._acked_through == {}
    assert momentum.working_state(str(TOKEN_A)) is None
