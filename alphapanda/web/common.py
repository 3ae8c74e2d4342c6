"""What the web views share: broker routing to the owning worker, CORS, readiness.

The bearer token is checked in front of every view, by ``web/auth.py``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable

import aiohttp
from aiohttp_cors import ResourceOptions
from aiokafka.errors import KafkaError
from faust.exceptions import SameNode
from faust.types import TP
from faust.web import Request, Response, View
from yarl import URL

from alphapanda.agents.common import active_brokers
from alphapanda.app import app, settings
from alphapanda.portfolio import IncompleteAccount
from alphapanda.topics import account_partition

__all__ = ["not_active", "routed", "cors_options", "tables_ready"]

log = logging.getLogger(__name__)

#: How long a read waits for this worker's tables after a start or rebalance before it gives up
#: with 503: answering from half-opened or half-recovered tables would show wrong books.
READY_WAIT_SECONDS = 10.0


def cors_options(origins: tuple[str, ...]) -> dict[str, ResourceOptions]:
    """CORS rules for ``origins`` (``WEB__CORS_ORIGINS``): reads and the bearer-token writes.

    Credentials (cookies) are not allowed: the API authenticates with a bearer header only.
    """
    rule = ResourceOptions(
        allow_credentials=False,
        allow_headers=("Authorization", "Content-Type", "X-Request-ID", "X-Correlation-ID"),
        allow_methods=("GET", "PUT", "POST"),
        expose_headers=("X-Request-ID", "X-Correlation-ID"),
        max_age=600,
    )
    return {origin: rule for origin in origins}


# App-wide, so every page gets it; it must be set before the first page creates the web server
# (the pages import this module first).
if settings.web.cors_origins:
    if "web" in app.__dict__:
        raise RuntimeError("WEB__CORS_ORIGINS must be applied before the web server is created")
    app.conf.web_cors_options = cors_options(settings.web.cors_origins)


def not_active(web, broker: str) -> Response:
    return web.json({"error": f"broker {broker!r} is not active", "broker": broker}, status=404)


def _tables_settled() -> bool:
    return (app.tables.recovery.completed.is_set()
            and not app.rebalancing and not getattr(app, "in_recovery", False))


async def tables_ready(timeout: float = READY_WAIT_SECONDS) -> bool:
    """Wait until this worker has opened and recovered its table partitions (first start and
    every rebalance); False when that takes longer than ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not _tables_settled():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def changelog_listed(table, timeout: float = READY_WAIT_SECONDS) -> bool:
    """Wait until the producer's metadata lists the changelog of ``table``, which Faust's router
    needs to find the key's owner (:mod:`alphapanda.producer_metadata`)."""
    try:
        await asyncio.wait_for(app.producer.wait_for_topic(table.changelog_topic.get_topic_name()), timeout)
    except (KafkaError, asyncio.TimeoutError) as exc:
        log.warning("the changelog of %s is not in the producer's metadata: %r", table.name, exc)
        return False
    return True


def unavailable(web, broker: str, reason: str) -> Response:
    return web.json({"error": reason, "broker": broker}, status=503, headers={"Retry-After": "1"})


def owner_url(table, broker: str) -> URL:
    """The web address of the worker that owns ``broker``'s partition of ``table``.

    Not Faust's ``router.key_store``: it hashes the key as the table's changelog serializes it
    (JSON, ``"paper"`` with its quotes), while the records are on the partition of the events
    that wrote them, keyed by the bare account (with 8 partitions: 4 against 5). It sent reads
    to the worker that only had a standby copy, which answered with stale state.
    """
    tp = TP(table.changelog_topic.get_topic_name(), account_partition(broker, settings.topic_partitions))
    return URL(app.assignor._tps_url[tp])


async def routed(view: View, request: Request, table, broker: str, local: Callable[[], Awaitable[Response]]) -> Response:
    """Answer here when this worker owns the broker's partition of ``table``, else forward.

    A worker that is still opening or recovering its tables waits for them (up to
    ``READY_WAIT_SECONDS``) and then answers 503, never with partial state.
    """
    if broker not in active_brokers:
        return not_active(view.web, broker)
    if not await tables_ready():
        return unavailable(view.web, broker, "the worker is still recovering its tables; retry")
    if not await changelog_listed(table):
        return unavailable(view.web, broker, "the worker cannot find the table's changelog in Kafka's metadata; retry")
    try:
        owner = owner_url(table, broker)
    except KeyError:  # no worker owns it (a rebalance in progress)
        return unavailable(view.web, broker, "no worker owns this broker's partition yet; retry")
    try:
        return await app.router._route_req(owner, view.web, request)
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        # The owning worker did not answer (it is stopping, or a rebalance is moving the
        # partition): the caller retries, as for a worker still recovering.
        log.warning("the worker owning %s did not answer: %r", broker, exc, extra={"broker": broker})
        return unavailable(view.web, broker, "the worker owning this broker did not answer; retry")
    except SameNode:
        try:
            return await local()
        except IncompleteAccount as exc:
            log.warning("incomplete portfolio state of %s: %s", broker, exc, extra={"broker": broker})
            return unavailable(view.web, broker, "the portfolio state is incomplete on this worker; retry")
