"""A local Kite Connect REST server for tests, built from the documented formats (KITE.md).

It speaks what the order path of ``kiteconnect.KiteConnect`` uses: ``POST /orders/{variety}``
(form fields, validated like Kite does), ``GET /orders`` and ``GET /orders/{order_id}``, with the
``Authorization: token key:access`` and ``X-Kite-Version: 3`` headers checked. Faults are
programmable per request (429, 500, a gateway's HTML 502, a hang, an expired token, bad input),
including the nasty one: the order is *recorded* but the answer is an error or never comes.

Usage::

    async with KiteRestServer(api_key="k", access_token="t") as kite:
        kite.fail_next(Fault.SERVER_ERROR, record=True)
        KiteConnect("k", access_token="t", root=kite.root)...
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from aiohttp import web

__all__ = ["Fault", "KiteRestServer", "RecordedRequest"]

IST = timezone(timedelta(hours=5, minutes=30))
VARIETIES = {"regular", "amo", "co", "iceberg", "auction"}
PRODUCTS = {"CNC", "MIS", "NRML", "MTF"}
ORDER_TYPES = {"MARKET", "LIMIT", "SL", "SL-M"}
VALIDITIES = {"DAY", "IOC", "TTL"}
TAG = re.compile(r"^[A-Za-z0-9]{1,20}$")


class Fault(enum.Enum):
    RATE_LIMITED = "429 NetworkException"
    SERVER_ERROR = "500 GeneralException"
    BAD_GATEWAY = "502 text/html"
    HANG = "no answer for `hang` seconds"
    TOKEN = "403 TokenException"
    INPUT = "400 InputException"


@dataclass
class _PendingFault:
    fault: Fault
    remaining: int
    method: str | None
    record: bool
    hang: float


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    at: float  # time.monotonic() at arrival
    headers: dict[str, str] = field(default_factory=dict)


class KiteRestServer:
    """Kite's order REST API on 127.0.0.1 (ephemeral port), with request counting and faults."""

    def __init__(self, *, api_key: str = "test_key", access_token: str = "test_token") -> None:
        self.api_key = api_key
        self.access_token = access_token
        self.requests: list[RecordedRequest] = []
        self.orders: dict[str, dict[str, Any]] = {}
        self.history: dict[str, list[dict[str, Any]]] = {}
        self._faults: list[_PendingFault] = []
        self._ids = itertools.count(250_000_000_000_001)
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # Setup ------------------------------------------------------------------------------

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> "KiteRestServer":
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/orders/{variety}", self._place_order)
        app.router.add_get("/orders", self._orders)
        app.router.add_get("/orders/{order_id}", self._order_history)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing.set()  # releases hanging handlers
        if self._runner is not None:
            await self._runner.cleanup()

    # Programming ------------------------------------------------------------------------

    def fail_next(self, fault: Fault, times: int = 1, *, method: str | None = "POST",
                  record: bool = False, hang: float = 5.0) -> None:
        """The next ``times`` requests (of ``method``; None = any) get ``fault``.

        ``record=True`` (order placement only) stores the order first, so the client sees a
        failure for an order that exists; ``hang`` is how long a HANG keeps the client waiting.
        """
        self._faults.append(_PendingFault(fault, times, method, record, hang))

    def fill(self, order_id: str, quantity: int, price: float) -> dict[str, Any]:
        """Fill ``quantity`` more of an order at ``price``; returns the order as an update payload."""
        order = self.orders[order_id]
        before = order["filled_quantity"]
        filled = before + quantity
        if filled > order["quantity"]:
            raise ValueError("fill exceeds the order quantity")
        order["average_price"] = (order["average_price"] * before + price * quantity) / filled
        order["filled_quantity"] = filled
        order["pending_quantity"] = order["quantity"] - filled
        order["status"] = "COMPLETE" if filled == order["quantity"] else "OPEN"
        order["exchange_update_timestamp"] = self._now()
        self.history[order_id].append(dict(order))
        return dict(order)

    def set_status(self, order_id: str, status: str, message: str | None = None) -> dict[str, Any]:
        """Move an order to ``status`` (e.g. REJECTED, CANCELLED); returns it as an update payload."""
        order = self.orders[order_id]
        order["status"] = status
        order["status_message"] = message
        order["exchange_update_timestamp"] = self._now()
        self.history[order_id].append(dict(order))
        return dict(order)

    # Observing --------------------------------------------------------------------------

    def count(self, method: str | None = None, path_prefix: str = "") -> int:
        return sum(1 for r in self.requests
                   if (method is None or r.method == method) and r.path.startswith(path_prefix))

    def placements(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path.startswith("/orders/")]

    def max_placements_in_window(self, window: float = 1.0) -> int:
        """The most order placements that arrived within any ``window`` seconds."""
        times = sorted(r.at for r in self.placements())
        best, start = 0, 0
        for end, t in enumerate(times):
            while t - times[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best

    def orders_with_tag(self, tag: str) -> list[dict[str, Any]]:
        return [o for o in self.orders.values() if o.get("tag") == tag]

    # HTTP -------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(RecordedRequest(request.method, request.path, time.monotonic(),
                                             dict(request.headers)))
        if request.headers.get("X-Kite-Version") != "3":
            return _error(400, "InputException", "Missing or invalid X-Kite-Version header.")
        if request.headers.get("Authorization") != f"token {self.api_key}:{self.access_token}":
            return _error(403, "TokenException", "Incorrect `api_key` or `access_token`.")

        fault = self._take_fault(request.method)
        if fault is None:
            return await handler(request)
        if fault.record and request.method == "POST":
            await handler(request)  # the order exists; the client never learns it
        if fault.fault is Fault.HANG:
            try:
                await asyncio.wait_for(self._closing.wait(), fault.hang)
            except asyncio.TimeoutError:
                pass
            return _error(504, "NetworkException", "Gateway timeout.")
        return _fault_response(fault.fault)

    def _take_fault(self, method: str) -> _PendingFault | None:
        for fault in self._faults:
            if fault.remaining > 0 and (fault.method is None or fault.method == method):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None

    async def _place_order(self, request: web.Request) -> web.Response:
        variety = request.match_info["variety"]
        form = await request.post()
        problem = _validate_order(variety, form)
        if problem:
            return _error(400, "InputException", problem)
        order_id = str(next(self._ids))
        quantity = int(form["quantity"])  # type: ignore[arg-type]
        now = self._now()
        order = {
            "order_id": order_id,
            "exchange_order_id": None,
            "parent_order_id": None,
            "placed_by": "XX0000",
            "variety": variety,
            "status": "OPEN",
            "status_message": None,
            "tradingsymbol": form["tradingsymbol"],
            "exchange": form["exchange"],
            "instrument_token": 0,
            "transaction_type": form["transaction_type"],
            "order_type": form["order_type"],
            "product": form["product"],
            "validity": form.get("validity", "DAY"),
            "price": float(form.get("price", 0) or 0),
            "trigger_price": float(form.get("trigger_price", 0) or 0),
            "quantity": quantity,
            "filled_quantity": 0,
            "pending_quantity": quantity,
            "cancelled_quantity": 0,
            "disclosed_quantity": 0,
            "average_price": 0.0,
            "order_timestamp": now,
            "exchange_timestamp": None,
            "exchange_update_timestamp": None,
            "tag": form.get("tag"),
            "tags": [form["tag"]] if form.get("tag") else [],
        }
        self.orders[order_id] = order
        self.history[order_id] = [dict(order)]
        return _success({"order_id": order_id})

    async def _orders(self, request: web.Request) -> web.Response:
        return _success([dict(o) for o in self.orders.values()])

    async def _order_history(self, request: web.Request) -> web.Response:
        order_id = request.match_info["order_id"]
        if order_id not in self.history:
            return _error(400, "InputException", "Couldn't find that `order_id`.")
        return _success([dict(h) for h in self.history[order_id]])

    @staticmethod
    def _now() -> str:
        return datetime.now(IST).strftime("%Y-%m-%d %H:%M:%S")


def _validate_order(variety: str, form: Any) -> str | None:
    if variety not in VARIETIES:
        return f"Invalid variety `{variety}`."
    for name in ("exchange", "tradingsymbol", "transaction_type", "quantity", "product", "order_type"):
        if not form.get(name):
            return f"Missing `{name}`."
    if form["transaction_type"] not in ("BUY", "SELL"):
        return "Invalid `transaction_type`."
    try:
        quantity = int(form["quantity"])
    except ValueError:
        return "Invalid `quantity`."
    if quantity <= 0:
        return "Invalid `quantity`."
    if form["product"] not in PRODUCTS:
        return "Invalid `product`."
    if form["order_type"] not in ORDER_TYPES:
        return "Invalid `order_type`."
    if form["order_type"] == "LIMIT":
        try:
            if float(form.get("price", 0)) <= 0:
                return "Invalid `price`."
        except ValueError:
            return "Invalid `price`."
    if form.get("validity") and form["validity"] not in VALIDITIES:
        return "Invalid `validity`."
    if form.get("tag") and not TAG.match(form["tag"]):
        return "Invalid `tag`: up to 20 alphanumeric characters."
    return None


def _success(data: Any) -> web.Response:
    return web.json_response({"status": "success", "data": data})


def _error(status: int, error_type: str, message: str) -> web.Response:
    return web.json_response({"status": "error", "message": message, "data": None,
                              "error_type": error_type}, status=status)


def _fault_response(fault: Fault) -> web.Response:
    if fault is Fault.RATE_LIMITED:
        return _error(429, "NetworkException", "Too many requests")
    if fault is Fault.SERVER_ERROR:
        return _error(500, "GeneralException", "Something went wrong.")
    if fault is Fault.BAD_GATEWAY:
        return web.Response(status=502, text="<html><body>502 Bad Gateway</body></html>",
                            content_type="text/html")
    if fault is Fault.TOKEN:
        return _error(403, "TokenException", "Token is invalid or has expired.")
    if fault is Fault.INPUT:
        return _error(400, "InputException", "Invalid `quantity`.")
    raise AssertionError(fault)
