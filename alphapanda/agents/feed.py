"""The market feed of the cluster: exactly one worker (the leader) publishes ``market.ticks``.

Every worker runs this service; it checks leadership every second and starts or stops its feed
accordingly, so a leader change moves the feed rather than doubling or losing it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

from mode import Service

from alphapanda import metrics
from alphapanda.app import app, settings
from alphapanda.market.feeds import FeedState, build_feed
from alphapanda.market.publisher import TickPublisher

__all__ = ["FeedSupervisor", "feed_supervisor"]

log = logging.getLogger(__name__)


class FeedSupervisor(Service):
    """Runs the configured feed while this worker is the leader; exposes its state for health."""

    def __init__(self, spec: str, bootstrap: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.kind = spec.split(":", 1)[0]
        self.bootstrap = bootstrap
        self.feed_state = FeedState(kind=self.kind)
        self._task: asyncio.Task | None = None
        self._feed = None
        self._gauge = metrics.FEED_RUNNING.labels(self.kind)

    @Service.task
    async def _supervise(self) -> None:
        if self.kind == "none":
            return
        while not self.should_stop:
            leader = self._is_leader()
            if leader and self._task is None:
                self._task = asyncio.ensure_future(self._run_feed())
            elif not leader and self._task is not None:
                await self._stop_feed("lost leadership")
            await self.sleep(1.0)

    def _is_leader(self) -> bool:
        try:
            return bool(app.is_leader())
        except Exception:
            return False

    async def _run_feed(self) -> None:
        publisher = TickPublisher(self.bootstrap)
        await publisher.start()
        try:
            self._feed = build_feed(self.spec, settings)
            self.feed_state.mark_running(datetime.now(timezone.utc))
            self._gauge.set(1)
            log.info("market feed %s started on this worker (leader)", self.spec)
            await self._feed.run(publisher, self.feed_state)
            self.feed_state.mark_stopped("finished")
        except asyncio.CancelledError:
            self.feed_state.mark_stopped("stopped")
            raise
        except Exception as exc:
            log.exception("market feed %s failed", self.kind)
            self.feed_state.mark_failed(repr(exc))
        finally:
            self._gauge.set(0)
            await publisher.stop()

    async def _stop_feed(self, reason: str) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        if self._feed is not None:
            await self._feed.stop()
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):
            pass
        self.feed_state.mark_stopped(reason)

    async def on_stop(self) -> None:
        await self._stop_feed("worker stopping")


feed_supervisor = app.service(FeedSupervisor(settings.market_feed, settings.kafka_bootstrap))
