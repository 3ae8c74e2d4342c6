"""Topics read a fetch at a time: their records go to one handler per fetch, past Faust's event path.

Faust hands a fetched record to its streams one at a time: a ``Message``, an ``Event``, a
stream queue, processors, sensors and an ack each. On ``market.ticks`` that machinery cost
several times the strategies themselves (DESIGN.md, "What we measured"). A batch topic stays a
topic of the Faust app: it is subscribed by the app's consumer, so the group assigns its
partitions together with the tables co-partitioned with it, table recovery runs before its
records are fetched, and its offsets are committed by Faust's commit loop. Only the hand-over
differs: the consumer (:class:`alphapanda.transport.Consumer`) takes the topic's records out of
each fetch and awaits the topic's handler with all of them, before it hands the fetch's other
records to their streams.

The handler owns its offsets: it calls :func:`ack_through` for a partition once everything
before an offset is safely done (for the strategy stage: once the state that includes those
ticks is written), and Faust commits that offset with its next commit, after flushing the
producer. A handler that fails calls :func:`rewind` so that what it did not finish is fetched
again. Its ``on_stop`` runs when the worker stops, before the consumer and the tables do, so
what it finished can still be written and committed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiokafka import ConsumerRecord
from faust.types import TP

__all__ = ["Fetched", "BatchHandler", "add_batch_topic", "batch_handlers", "stop_batch_handlers", "ack_through",
           "rewind"]


@dataclass(frozen=True, slots=True)
class Fetched:
    """The records of one fetch for one partition of a batch topic, in offset order."""

    tp: TP
    records: list[ConsumerRecord]
    #: The consumer generation they were fetched in (a rebalance starts a new one).
    generation_id: int


#: Awaited with every partition's records of one fetch; back-pressure is natural: the consumer
#: hands nothing else over until it returns.
BatchHandler = Callable[[list[Fetched]], Awaitable[None]]


def batch_handlers(app) -> dict[str, BatchHandler]:
    """Topic name -> its handler (the consumer reads this on every fetch)."""
    handlers = getattr(app, "alphapanda_batch_handlers", None)
    if handlers is None:
        handlers = app.alphapanda_batch_handlers = {}
    return handlers


def add_batch_topic(app, topic, handler: BatchHandler, *, on_stop: Callable[[], Awaitable[None]] | None = None) -> None:
    """Subscribe the app's consumer to ``topic`` (a Faust topic) and give its records to ``handler``."""
    (name,) = topic.topics
    handlers = batch_handlers(app)
    if name in handlers:
        raise ValueError(f"{name} already has a batch handler")
    handlers[name] = handler
    if on_stop is not None:
        _stop_callbacks(app).append(on_stop)
    app.topics.add(topic)  # what a stream does when an agent iterates it: the group assigns it


async def stop_batch_handlers(app) -> None:
    """Run the handlers' ``on_stop`` (the app calls this first when it stops)."""
    for callback in _stop_callbacks(app):
        await callback()


def _stop_callbacks(app) -> list:
    callbacks = getattr(app, "alphapanda_batch_stop_callbacks", None)
    if callbacks is None:
        callbacks = app.alphapanda_batch_stop_callbacks = []
    return callbacks


def ack_through(app, tp: TP, offset: int) -> None:
    """Everything of ``tp`` before ``offset`` is done: Faust may commit ``offset``."""
    app.consumer.ack_through(tp, offset)


async def rewind(app, tp: TP, offset: int) -> None:
    """Fetch ``tp`` again from ``offset`` (what a failed handler did not finish)."""
    await app.consumer.seek(tp, offset)
