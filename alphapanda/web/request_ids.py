"""Request and correlation ids on every HTTP answer, and one access log line per request.

Every answer carries ``X-Request-ID``: the caller's own when it sent a usable one (so a proxy's
id follows the request through), else a new one. A caller's ``X-Correlation-ID`` is echoed, so a
client can tie an answer to its own flow. The access line (logger ``alphapanda.web.access``) has
method, path, status, latency and both ids; with ``LOG_FORMAT=json`` they are fields of their own.
Probes and scrapers (``/api/v1/health``, ``/metrics``) answered 200 are logged at DEBUG: one a
second from each would bury everything else.

This is the outermost middleware: the token guard's 401 and 429, aiohttp's own 404s and a view's
crash all leave with the ids and their line.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from aiohttp import web as aiohttp_web

from alphapanda.app import app

__all__ = ["REQUEST_ID", "CORRELATION_ID", "usable_id", "request_ids"]

REQUEST_ID = "X-Request-ID"
CORRELATION_ID = "X-Correlation-ID"

access_log = logging.getLogger("alphapanda.web.access")
QUIET_PATHS = frozenset({"/api/v1/health", "/metrics"})
log = logging.getLogger(__name__)

# Ids go into headers and log lines as they are: printable, no spaces, bounded.
_USABLE = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")


def usable_id(value: str | None) -> str | None:
    """``value`` if it is safe to echo in a header and a log line, else None."""
    return value if value is not None and _USABLE.fullmatch(value) else None


@aiohttp_web.middleware
async def request_ids(request, handler):
    started = time.perf_counter()
    request_id = usable_id(request.headers.get(REQUEST_ID)) or uuid.uuid4().hex
    correlation_id = usable_id(request.headers.get(CORRELATION_ID))
    try:
        response = await handler(request)
    except aiohttp_web.HTTPException as exc:  # 404, 405 and the like: aiohttp's answer, our ids
        response = exc
    except Exception:
        log.exception("unhandled error in %s %s (request id %s)", request.method, request.path, request_id)
        response = aiohttp_web.json_response(
            {"error": "internal error", "request_id": request_id}, status=500,
        )
    response.headers[REQUEST_ID] = request_id
    if correlation_id is not None:
        response.headers[CORRELATION_ID] = correlation_id
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    level = logging.DEBUG if response.status == 200 and request.path in QUIET_PATHS else logging.INFO
    access_log.log(
        level,
        "%s %s %d %.2f ms request_id=%s correlation_id=%s",
        request.method, request.path, response.status, latency_ms, request_id, correlation_id or "-",
        extra={"method": request.method, "path": request.path, "status": response.status,
               "latency_ms": latency_ms, "request_id": request_id, "correlation_id": correlation_id},
    )
    if isinstance(response, aiohttp_web.HTTPException):
        raise response
    return response


# First in the list is outermost in aiohttp.
app.web.web_app.middlewares.insert(0, request_ids)
