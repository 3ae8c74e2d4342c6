"""Stage 1: ticks -> strategies -> ``{broker}.signals.raw`` for every broker a strategy trades on."""

from __future__ import annotations

import time
import weakref
from contextlib import contextmanager

from faust.streams import _current_event

from alphapanda import metrics
from alphapanda.agents.common import active_brokers, event_path
from alphapanda.app import app, settings
from alphapanda.execution.registry import live_brokers
from alphapanda.models import EventType
from alphapanda.reliability import SourceMessage
from alphapanda.strategies.book import StrategyBook
from alphapanda.strategies.config import load_strategies
from alphapanda.strategy_runner import StrategyRunner
from alphapanda.tables import strategy_state
from alphapanda.topics import MARKET_TICKS
from alphapanda.models.wire import PoisonMessage

ticks_topic = app.topic(MARKET_TICKS, key_serializer="raw", value_serializer="raw")

# Validated at import, so a bad strategy file stops the worker at startup naming file and field.
runner = StrategyRunner(
    book=StrategyBook.from_configs(load_strategies(settings.strategies_dir)),
    active_brokers=active_brokers,
    live_brokers=live_brokers(),
    states=strategy_state,
)
path = event_path("strategy_runner", {MARKET_TICKS: EventType.MARKET_TICK}, dedupe=False, broker_scoped=False)
_latency = metrics.HANDLER_LATENCY.labels("strategy_runner")
_processed = metrics.EVENTS_PROCESSED.labels("strategy_runner", "market")
_last = metrics.LAST_EVENT_TIME.labels("strategy_runner", "market")

BATCH_SIZE = 1000
BATCH_WITHIN = 0.005  # seconds: latency ceiling a batch adds at low tick rates


@contextmanager
def as_current_event(event):
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


@app.agent(ticks_topic, name="strategy_runner")
async def strategy_runner(stream) -> None:
    # Batches keep per-tick work in memory: signals are sent and acknowledged first, then each
    # changed instrument's state is written once, so a crash re-evaluates (same signal ids)
    # rather than losing signals.
    async for events in stream.take_events(BATCH_SIZE, within=BATCH_WITHIN):
        started = time.perf_counter()
        dirty: dict[str, dict] = {}
        source_of: dict[str, object] = {}  # instrument key -> an event of its partition
        outputs = []
        for event in events:
            message = SourceMessage.from_event(event)
            try:
                tick = path.decode(message, None)
            except PoisonMessage as exc:
                await path.dead_letter(message, None, exc, attempts=1)
                continue
            outputs.extend(runner.on_tick(tick, dirty))
            source_of[str(tick.data.instrument_token)] = event
        if outputs:
            await path.emit(outputs)
        for key, states in dirty.items():
            # Table writes take their partition (changelog and RocksDB) from the current event;
            # after a batch that is whichever event came last, so name the right one.
            with as_current_event(source_of[key]):
                strategy_state[key] = states
        _latency.observe(time.perf_counter() - started)
        _processed.inc(len(events))
        _last.set(time.time())
