"""The market feed of the cluster: exactly one worker (the leader) publishes ``market.ticks``.

Every worker runs this service; it checks leadership every second and starts or stops its feed
accordingly, so a leader change moves the feed rather than doubling or losing it. Faust elects
the leader by assigning the one partition of its leader topic to one member of the group.
"""

from __future__ import annotations

import logging

from mode import Service

from alphapanda import metrics
from alphapanda.app import app, settings
from alphapanda.kafka_connection import KafkaConnection
from alphapanda.market.feeds import FeedConfigError, FeedRunner, FeedState, build_feed, worker_identity
from alphapanda.market.publisher import TickPublisher

__all__ = ["FeedSupervisor", "feed_supervisor"]

log = logging.getLogger(__name__)

LEADERSHIP_CHECK_SECONDS = 1.0


class FeedSupervisor(Service):
    """Runs the configured feed while this worker is the leader; exposes its state for health.

    A feed that finished (a tape replayed to its end) or failed (the ticker gave up) is not
    restarted while this worker stays leader: the state says so, and a failure makes health
    degraded. A settings error (e.g. ``MARKET_FEED=kite`` without an access token) is found at
    start, logged naming the variable, and shown in health; the worker itself keeps running.
    """

    def __init__(self, spec: str, bootstrap: "str | KafkaConnection", **kwargs) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.kind = spec.split(":", 1)[0]
        self.feed_state = FeedState(kind=self.kind, worker=worker_identity())
        self._gauge = metrics.FEED_RUNNING.labels(self.kind)
        self._config_error: str | None = None
        self.runner = FeedRunner(
            lambda: build_feed(self.spec, settings),
            lambda: TickPublisher(bootstrap, tuning=settings.feed_producer, tansu=app.alphapanda_tansu),
            self.feed_state,
            on_change=lambda state: self._gauge.set(1 if state.running else 0),
        )

    async def on_start(self) -> None:
        if self.kind == "none":
            return
        try:
            build_feed(self.spec, settings)  # checks the settings; each leadership builds its own
        except FeedConfigError as exc:
            self._config_error = str(exc)
            self.feed_state.mark_failed(f"invalid settings: {exc}")
            log.error("market feed %s cannot start: %s", self.kind, exc)

    @Service.task
    async def _supervise(self) -> None:
        if self.kind == "none" or self._config_error is not None:
            return
        while not self.should_stop:
            leader = self._is_leader()
            if leader and not self.runner.active:
                log.info("this worker is the leader: starting the market feed (%s)", self.kind)
                self.runner.start()
            elif not leader and self.runner.active:
                log.info("this worker is no longer the leader: stopping the market feed")
                await self.runner.stop("lost leadership")
            await self.sleep(LEADERSHIP_CHECK_SECONDS)

    def _is_leader(self) -> bool:
        try:
            return bool(app.is_leader())
        except Exception:  # not assigned yet
            return False

    async def on_stop(self) -> None:
        await self.runner.stop("worker stopping")


feed_supervisor = app.service(FeedSupervisor(settings.market_feed, app.alphapanda_connection))
