"""One worker's feed at a time, with its state kept right through starts, ends, failures and stops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timezone

from alphapanda.market.feeds.base import FeedState, MarketFeed, TickSink

__all__ = ["FeedRunner"]

log = logging.getLogger(__name__)


class FeedRunner:
    """Runs at most one feed at a time and keeps its :class:`FeedState` right.

    - :meth:`start` opens a sink, builds the feed and runs it in a task; the state is running
      once the sink is up, with ``error`` cleared.
    - The feed's end sets ``stopped_reason`` ``finished`` (a tape replayed to its end); a failure
      (the ticker giving up, a bad tape path, the sink failing) sets ``error`` and ``failed``. A
      feed that ended stays ended until :meth:`stop` (e.g. on loss of leadership) and a new start.
    - :meth:`stop` asks the feed to stop, waits up to ``stop_timeout`` seconds, then cancels;
      it returns when no task of the feed is left and the sink is closed. It also clears the
      error of a failed feed: a worker that no longer runs the feed is not degraded by it.
    """

    def __init__(
        self,
        make_feed: Callable[[], MarketFeed],
        make_sink: Callable[[], TickSink],
        state: FeedState,
        *,
        stop_timeout: float = 5.0,
        on_change: Callable[[FeedState], None] | None = None,
    ) -> None:
        self._make_feed = make_feed
        self._make_sink = make_sink
        self.state = state
        self.stop_timeout = stop_timeout
        self._on_change = on_change or (lambda state: None)
        self._task: asyncio.Task[None] | None = None
        self._feed: MarketFeed | None = None
        self._stop_reason: str | None = None

    @property
    def active(self) -> bool:
        """A feed was started and not stopped since (it may have finished or failed)."""
        return self._task is not None

    def start(self) -> None:
        if self._task is None:
            self._stop_reason = None
            self._task = asyncio.get_running_loop().create_task(self._run(), name="market-feed")

    async def stop(self, reason: str) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stop_reason = reason
        if not task.done():
            feed = self._feed
            if feed is not None:  # a graceful stop first; a feed still starting is just cancelled
                await feed.stop()
                await asyncio.wait({task}, timeout=self.stop_timeout)
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
        if self.state.running or self.state.error is not None:
            # A failure is this worker's business only while it is meant to run the feed: once
            # stopped (e.g. leadership moved on), the failure stays in the log, not in health.
            self.state.mark_stopped(reason)
            self.state.error = None
            self._on_change(self.state)

    async def _run(self) -> None:
        sink: TickSink | None = None
        try:
            sink = self._make_sink()
            await sink.start()
            self._feed = self._make_feed()
            self.state.mark_running(datetime.now(timezone.utc))
            self._on_change(self.state)
            log.info("market feed %s started on %s", self.state.kind, self.state.worker)
            await self._feed.run(sink, self.state)
            self.state.mark_stopped(self._stop_reason or "finished")
        except asyncio.CancelledError:
            self.state.mark_stopped(self._stop_reason or "cancelled")
            raise
        except Exception as exc:  # any failure must show in health, never end silently
            log.error("market feed %s failed: %s", self.state.kind, exc)
            self.state.mark_failed(f"{type(exc).__name__}: {exc}")
        finally:
            self._feed = None
            self._on_change(self.state)
            if sink is not None:
                try:
                    await sink.stop()
                except Exception as exc:
                    log.warning("closing the market feed's producer failed: %r", exc)
