"""The worker's one group-less tick reader feeds the market view and the tick triggers."""

from __future__ import annotations

import json
from types import SimpleNamespace

from alphapanda.agents import execution, market_view
from alphapanda.agents.tick_tail import TickTail, tick_tail

TOKEN = 738561


def _record(price: float, second: int, *, token: int = TOKEN) -> SimpleNamespace:
    at = f"2026-11-23T04:00:{second:02d}+00:00"
    value = json.dumps({
        "id": f"tick-{token}-{second}", "type": "market_tick", "timestamp": at, "correlation_id": "c",
        "causation_id": None, "source": "test", "version": 1, "broker": None,
        "data": {"instrument_token": token, "last_price": price, "timestamp": at},
    }).encode()
    return SimpleNamespace(key=str(token).encode(), value=value)


def test_the_worker_has_one_tail_for_the_view_and_the_triggers():
    names = [name for name, _ in tick_tail._readers]
    assert names.count("market view") == 1
    assert ("tick triggers" in names) == bool(execution.tick_triggers.brokers)
    # Started far enough back for the reader that wants the most history.
    assert tick_tail._history == max(market_view.WARM_UP_MESSAGES, execution.tick_watch.history)


def test_one_batch_reaches_every_reader_in_order_and_a_failing_reader_stops_none():
    tail = TickTail("127.0.0.1:1")
    seen: list[tuple[str, float]] = []

    def failing(records):
        raise RuntimeError("a bug in one view")

    tail.add_reader("failing", failing, history=5)
    tail.add_reader("prices", lambda records: seen.extend(("prices", json.loads(r.value)["data"]["last_price"]) for r in records), history=50)
    tail.add_reader("count", lambda records: seen.append(("count", float(len(records)))), history=10)
    tail.deliver([_record(100.0, 1), _record(100.5, 2)])
    assert seen == [("prices", 100.0), ("prices", 100.5), ("count", 2.0)]
    assert tail._history == 50


def test_the_market_view_keeps_the_newest_tick_and_skips_poison():
    market_view.read_ticks([_record(101.0, 3, token=999001), SimpleNamespace(key=b"999001", value=b"not json"),
                            _record(100.0, 2, token=999001)])  # older: ignored
    assert market_view.market_view.last_price(999001) == 101.0


async def test_the_tail_paces_its_fetches_while_ticks_flow_and_not_when_idle(monkeypatch):
    import asyncio
    import time

    from alphapanda.agents import tick_tail as tail_module

    async def assigned(consumer, topic, history):
        return True

    monkeypatch.setattr(tail_module, "assign_tail", assigned)
    tail = TickTail("127.0.0.1:1", pace_seconds=0.05)
    delivered: list[int] = []
    tail.add_reader("count", lambda records: delivered.append(len(records)), history=1)
    batches = [{"tp": [_record(100.0, 1)]}, {}, {"tp": [_record(100.5, 2)]}, {"tp": [_record(101.0, 3)]}]
    calls: list[float] = []

    class Consumer:
        async def getmany(self, timeout_ms, max_records):
            calls.append(time.monotonic())
            if not batches:
                raise asyncio.CancelledError
            return batches.pop(0)

    tail._consumer = Consumer()
    try:
        await tail._run()
    except asyncio.CancelledError:
        pass
    assert delivered == [1, 1, 1]
    gaps = [b - a for a, b in zip(calls, calls[1:])]
    # After a batch the tail waits its pace before fetching again; after an empty answer it does not.
    assert gaps[0] >= 0.05 and gaps[1] < 0.03 and gaps[2] >= 0.05 and gaps[3] >= 0.05
