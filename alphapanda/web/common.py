"""What the web views share: broker routing to the owning worker, bearer-token checks."""

from __future__ import annotations

import hmac
from typing import Awaitable, Callable

from aiohttp_cors import ResourceOptions
from faust.exceptions import SameNode
from faust.web import Request, Response, View

from alphapanda.agents.common import active_brokers
from alphapanda.app import app, settings
from alphapanda.topics import account_of

__all__ = ["not_active", "routed", "authorized", "unauthorized", "cors_options"]


def cors_options(origins: tuple[str, ...]) -> dict[str, ResourceOptions]:
    """CORS rules for ``origins`` (``WEB__CORS_ORIGINS``): reads and the bearer-token writes.

    Credentials (cookies) are not allowed: the API authenticates with a bearer header only.
    """
    rule = ResourceOptions(
        allow_credentials=False,
        allow_headers=("Authorization", "Content-Type"),
        allow_methods=("GET", "PUT", "POST"),
        expose_headers=(),
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


async def routed(view: View, request: Request, table, broker: str, local: Callable[[], Awaitable[Response]]) -> Response:
    """Answer here when this worker owns the broker's partition of ``table``, else forward."""
    if broker not in active_brokers:
        return not_active(view.web, broker)
    try:
        return await app.router.route_req(table.name, account_of(broker), view.web, request)
    except SameNode:
        return await local()


def authorized(request: Request) -> bool:
    token = settings.web.api_token
    if token is None:
        return True
    header = request.headers.get("Authorization", "")
    expected = f"Bearer {token.get_secret_value()}"
    return hmac.compare_digest(header.encode(), expected.encode())


def unauthorized(web) -> Response:
    return web.json({"error": "missing or invalid bearer token"}, status=401)
