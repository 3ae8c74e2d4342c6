"""The bearer token at the door of the API: writes always, reads when ``WEB__READS_NEED_TOKEN``.

One aiohttp middleware in front of every ``/api/v1`` view, so no view can forget the check.
``/api/v1/health`` and ``/metrics`` stay open for probes and Prometheus; a venue's postbacks
carry the venue's own signature instead (``web/venues.py``). More than
``WEB__AUTH_FAILURES_PER_MINUTE`` (5) failures from one client within a minute are answered 429 with ``Retry-After`` (:class:`~alphapanda.auth_throttle.AuthThrottle`); each is
logged with the client, the method and the path, never with what the token was.
"""

from __future__ import annotations

import hmac
import logging
import time

from aiohttp import web as aiohttp_web

from alphapanda.app import app, settings
from alphapanda.auth_throttle import AuthThrottle

__all__ = ["authorized", "guard", "throttle"]

log = logging.getLogger(__name__)

OPEN_PATHS = ("/api/v1/health",)
READ_METHODS = ("GET", "HEAD", "OPTIONS")

throttle = AuthThrottle(limit=settings.web.auth_failures_per_minute, window=60.0)


def authorized(request) -> bool:
    """The request carries ``Authorization: Bearer WEB__API_TOKEN`` (always, without a token)."""
    token = settings.web.api_token
    if token is None:
        return True
    expected = f"Bearer {token.get_secret_value()}"
    return hmac.compare_digest(request.headers.get("Authorization", "").encode(), expected.encode())


def _needs_token(request) -> bool:
    path = request.path
    if settings.web.api_token is None or not path.startswith("/api/v1/"):
        return False
    if path in OPEN_PATHS or path.endswith("/postback") or request.method == "OPTIONS":
        return False
    return request.method not in READ_METHODS or settings.web.reads_need_token


@aiohttp_web.middleware
async def guard(request, handler):
    if not _needs_token(request):
        return await handler(request)
    client = request.remote or "unknown"
    wait = throttle.retry_after(client, time.monotonic())
    if wait is not None:
        log.warning("authentication refused: %s %s from %s: too many failures, retry in %d s",
                    request.method, request.path, client, wait)
        return aiohttp_web.json_response(
            {"error": f"too many failed authentications; retry in {wait} s"}, status=429,
            headers={"Retry-After": str(wait)},
        )
    if authorized(request):
        throttle.succeeded(client)
        return await handler(request)
    throttle.failed(client, time.monotonic())
    why = "a wrong bearer token" if request.headers.get("Authorization") else "no Authorization header"
    log.warning("authentication failed: %s %s from %s: %s", request.method, request.path, client, why)
    return aiohttp_web.json_response({"error": "missing or invalid bearer token"}, status=401)


app.web.web_app.middlewares.append(guard)
