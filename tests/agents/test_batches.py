"""take_ready: batches of what is ready, no timer, Faust's acks after each batch."""

from __future__ import annotations

import asyncio
import time

from alphapanda.agents.batches import take_ready
from alphapanda.app import app

batches: list[list[int]] = []
handled_at: list[float] = []
release = asyncio.Event()
acked_early: list[int] = []
held: list = []


@app.agent(app.channel(), name="take-ready-probe")
async def probe(stream):
    async for events in take_ready(stream, 4):
        batches.append([event.value for event in events])
        handled_at.append(time.monotonic())
        # While a batch is handled its events are not acked yet (they are committed after it).
        acked_early.extend(event.value for event in events if event.message.acked)
        await release.wait()
        held.extend(events)


async def test_events_already_there_go_in_one_batch_at_most_max_long_in_order():
    batches.clear()
    acked_early.clear()
    held.clear()
    release.set()
    async with probe.test_context() as agent:
        for value in range(10):
            await agent.put(value, wait=False)  # queued together, before the agent runs
        for _ in range(200):
            if sum(map(len, batches)) == 10:
                break
            await asyncio.sleep(0.01)
    assert [v for batch in batches for v in batch] == list(range(10))
    assert max(map(len, batches)) == 4 and len(batches) == 3
    # Acked after their batch was handled (then committed), never before.
    assert acked_early == [] and all(event.message.acked for event in held)


async def test_a_lone_event_is_handed_over_at_once_not_after_a_timer():
    batches.clear()
    handled_at.clear()
    release.set()
    async with probe.test_context() as agent:
        await asyncio.sleep(0.05)  # the agent idles
        sent = time.monotonic()
        await agent.put(42, wait=False)
        for _ in range(200):
            if batches:
                break
            await asyncio.sleep(0.001)
    assert batches == [[42]]
    assert handled_at[0] - sent < 0.05  # no within= timer, no idle wake (1 s) to wait for


async def test_no_new_event_joins_a_batch_while_it_is_handled():
    batches.clear()
    release.clear()
    async with probe.test_context() as agent:
        await agent.put(1, wait=False)
        for _ in range(100):
            if batches:
                break
            await asyncio.sleep(0.01)
        await agent.put(2, wait=False)
        await agent.put(3, wait=False)
        await asyncio.sleep(0.05)
        assert batches == [[1]]  # the first batch is still being handled
        release.set()
        for _ in range(100):
            if len(batches) == 2:
                break
            await asyncio.sleep(0.01)
    assert batches == [[1], [2, 3]]
