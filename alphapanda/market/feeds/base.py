"""What every market feed shares: its state for health, the sink it publishes to, its stop flag."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from alphapanda.models import Envelope

__all__ = ["FeedConfigError", "FeedState", "TickSink", "MarketFeed", "Stoppable", "content_id", "worker_identity"]


def content_id(kind: bytes, text: str) -> str:
    """A 32-hex-digit id that only this content has (blake2b: a few microseconds per tick)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16, person=kind).hexdigest()


class FeedConfigError(ValueError):
    """A feed cannot be built from the settings; the message names the variable."""


def worker_identity() -> str:
    """``host:pid``: which worker process publishes the feed (two workers of one host differ)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


@dataclass
class FeedState:
    """What health shows of this worker's feed.

    ``running`` is true only while the feed publishes (or waits for the market to open);
    ``error`` is set when the feed gave up, and cleared when it starts again. Counters are
    cumulative for the life of the worker: ``published`` ticks, ``invalid`` tape lines sent to
    the DLQ, ``held_back`` ticks not published because the market was closed, and
    ``order_updates`` published for the execution lane.
    """

    kind: str
    worker: str | None = None
    running: bool = False
    started_at: datetime | None = None
    stopped_reason: str | None = None
    error: str | None = None
    published: int = 0
    invalid: int = 0
    held_back: int = 0
    order_updates: int = 0
    last_tick_at: datetime | None = None
    connection: str | None = None
    market_open: bool | None = None
    schedule_start: datetime | None = None

    def mark_running(self, at: datetime) -> None:
        self.running, self.started_at, self.stopped_reason, self.error = True, at, None, None

    def mark_stopped(self, reason: str) -> None:
        self.running, self.stopped_reason = False, reason

    def mark_failed(self, error: str) -> None:
        self.running, self.error, self.stopped_reason = False, error, "failed"

    def record_ticks(self, count: int, last_at: datetime | None) -> None:
        self.published += count
        if last_at is not None:
            self.last_tick_at = last_at

    def as_dict(self) -> dict:
        return {
            "kind": self.kind, "worker": self.worker, "running": self.running,
            "started_at": _iso(self.started_at), "stopped_reason": self.stopped_reason,
            "error": self.error, "published": self.published, "invalid": self.invalid,
            "held_back": self.held_back, "order_updates": self.order_updates,
            "last_tick_at": _iso(self.last_tick_at), "connection": self.connection,
            "market_open": self.market_open, "schedule_start": _iso(self.schedule_start),
        }


class TickSink(Protocol):
    """Where feeds publish; :class:`~alphapanda.market.publisher.TickPublisher` is the real one."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def publish(self, events: Iterable[Envelope], *, wait: bool = True) -> int: ...
    async def publish_raw(
        self, key: bytes | None, value: bytes, topic: str | None = None
    ) -> Awaitable[Any]: ...


class MarketFeed(Protocol):
    """Publishes until it is stopped, its source ends (returns) or it gives up (raises)."""

    async def run(self, sink: TickSink, state: FeedState) -> None: ...
    async def stop(self) -> None: ...


class Stoppable:
    """A stop flag that also interrupts the feed's sleeps."""

    def __init__(self) -> None:
        self._stopping = asyncio.Event()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def stop(self) -> None:
        self._stopping.set()

    async def _sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except asyncio.TimeoutError:
            pass
