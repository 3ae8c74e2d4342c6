"""Batches of the events that are ready, without a timer: ``take_ready(stream, max_)``.

Faust's ``Stream.take_events(max_, within)`` hands over a batch when ``max_`` events arrived or
``within`` seconds passed. Behind a backlog the batches are full and the timer never matters; at
a paced rate every batch waits out the timer, adding up to ``within`` to each tick's latency
(measured: 5 ms of a 20 ms tick -> signal at 1,000 ticks/s). Here a batch goes as soon as the
events the consumer has already handed over are in it: each turn of the event loop lets Faust's
consumer and the stream move what they hold, and the first turn that adds nothing closes the
batch (what Disruptor users call smart batching). Under load that is a whole fetch; at a low
rate, the few ticks one fetch brought, at once.

Acks are Faust's own: the stream's automatic acks are off while batches are taken, and each
event is acked after its batch was handled, as in ``take_events``; while a batch is handled the
stream takes no new events (the consumer's queue applies back-pressure).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

__all__ = ["take_ready"]

#: Seconds between looks at ``should_stop`` while the stream is idle.
IDLE_WAKE = 1.0


async def take_ready(stream, max_: int) -> AsyncIterator[list]:
    """Yield lists of at most ``max_`` events of ``stream``, each as soon as it is ready."""
    buffer: list = []
    ready = asyncio.Event()  # the buffer holds an event
    room = asyncio.Event()  # the buffer may take events (not full, no batch being handled)
    room.set()

    async def add_to_buffer(value):
        while not room.is_set():
            await room.wait()
        event = stream.current_event
        if event is None:
            raise RuntimeError("take_ready found no current event")
        buffer.append(event)
        ready.set()
        if len(buffer) >= max_:
            room.clear()
        return value

    acks_were = stream.enable_acks
    stream.enable_acks = False
    stream.add_processor(add_to_buffer)
    stream._enable_passive(stream.channel.__aiter__())
    try:
        while not stream.should_stop:
            await stream.wait_for_stopped(ready, timeout=IDLE_WAKE)
            if not buffer:
                continue
            while len(buffer) < max_:  # take what is already on its way, then go
                before = len(buffer)
                await asyncio.sleep(0)
                if len(buffer) == before:
                    break
            room.clear()
            events = list(buffer)
            try:
                yield events
            finally:
                buffer.clear()
                ready.clear()
                for event in events:
                    await stream.ack(event)
                room.set()
    finally:
        stream.enable_acks = acks_were
        stream._processors.remove(add_to_buffer)
