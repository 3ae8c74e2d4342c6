"""HTTP API (CONTRACTS.md, Web): portfolios, orders, risk, health, metrics and the dashboard.

Reads of a broker's state are routed to the worker that owns the broker's partition
(``app.router``), so with several workers any worker answers for any broker. Writes never touch a
table from here: they go to the broker's control topic and the owning agent applies them in order.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from pathlib import Path
from typing import Any, Awaitable, Callable

import aiohttp
from faust.exceptions import SameNode
from faust.web import Request, Response, View
from pydantic import ValidationError

from alphapanda import health as health_checks
from alphapanda.agents.common import active_brokers, sender
from alphapanda.agents.portfolio import summary_of
from alphapanda.agents.risk_manager import load_state as load_risk_state
from alphapanda.app import app, settings
from alphapanda.execution.orders import OrderRecord
from alphapanda.ids import derived_id
from alphapanda.models import Envelope, EventType, RiskCommand, new_event_id
from alphapanda.models.wire import encode_event
from alphapanda.risk.limits import RiskLimits
from alphapanda.tables import accounts, orders, risk_state
from alphapanda.topics import BrokerTopics, account_of

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
RECENT_ORDERS = 200


def _not_active(web, broker: str) -> Response:
    return web.json({"error": f"broker {broker!r} is not active", "broker": broker}, status=404)


async def _routed(view: View, request: Request, table, broker: str, local: Callable[[], Awaitable[Response]]) -> Response:
    """Answer here when this worker owns the broker's partition of ``table``, else forward."""
    if broker not in active_brokers:
        return _not_active(view.web, broker)
    try:
        return await app.router.route_req(table.name, account_of(broker), view.web, request)
    except SameNode:
        return await local()


def _authorized(request: Request) -> bool:
    token = settings.web.api_token
    if token is None:
        return True
    header = request.headers.get("Authorization", "")
    expected = f"Bearer {token.get_secret_value()}"
    return hmac.compare_digest(header.encode(), expected.encode())


def _unauthorized(web) -> Response:
    return web.json({"error": "missing or invalid bearer token"}, status=401)


@app.page("/api/v1/portfolios/{broker}/summary")
class PortfolioSummaryView(View):
    async def get(self, request: Request, broker: str) -> Response:
        if broker == "all":
            return await self._all(request)

        async def local() -> Response:
            return self.json(summary_of(broker).model_dump(mode="json"))

        return await _routed(self, request, accounts, broker, local)

    async def _all(self, request: Request) -> Response:
        # Each broker's summary from whichever worker owns it (this one included).
        base = str(request.url.with_path("/").with_query(None)).rstrip("/")
        summaries: dict[str, Any] = {}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            for broker in active_brokers:
                async with session.get(f"{base}/api/v1/portfolios/{broker}/summary") as response:
                    if response.status != 200:
                        return self.json({"error": f"summary of {broker} unavailable", "broker": broker}, status=503)
                    summaries[broker] = await response.json()
        total = sum(s["total_pnl"] for s in summaries.values())
        return self.json({"brokers": summaries, "total_pnl": round(total, 6)})


@app.page("/api/v1/portfolios/{broker}/positions")
class PositionsView(View):
    async def get(self, request: Request, broker: str) -> Response:
        async def local() -> Response:
            summary = summary_of(broker)
            return self.json({"broker": broker, "positions": [p.model_dump(mode="json") for p in summary.positions]})

        return await _routed(self, request, accounts, broker, local)


@app.page("/api/v1/orders/{broker}")
class OrdersView(View):
    async def get(self, request: Request, broker: str) -> Response:
        async def local() -> Response:
            prefix = f"{broker}:"
            records = [OrderRecord.from_dict(v) for k, v in orders.items() if k.startswith(prefix) and v]
            records.sort(key=lambda r: r.updated_at or r.created_at, reverse=True)
            return self.json({"broker": broker, "orders": [r.to_dict() for r in records[:RECENT_ORDERS]]})

        return await _routed(self, request, orders, broker, local)


def risk_view(broker: str) -> dict:
    state = load_risk_state(broker)
    return {
        "broker": broker,
        "state": state.trading_state.value,
        "reason": state.halted_reason,
        "limits": state.limits.to_dict(),
        "exposure": state.exposure_view(),
    }


@app.page("/api/v1/risk/{broker}")
class RiskView(View):
    async def get(self, request: Request, broker: str) -> Response:
        async def local() -> Response:
            return self.json(risk_view(broker))

        return await _routed(self, request, risk_state, broker, local)


async def send_risk_command(broker: str, command: RiskCommand) -> None:
    event_id = new_event_id()
    event = Envelope[RiskCommand](
        id=event_id, type=EventType.RISK_COMMAND, correlation_id=event_id,
        source="web", broker=broker, data=command,
    )
    await sender(BrokerTopics(broker).risk_control, account_of(broker).encode(), encode_event(event))


@app.page("/api/v1/risk/{broker}/limits")
class RiskLimitsView(View):
    async def put(self, request: Request, broker: str) -> Response:
        if not _authorized(request):
            return _unauthorized(self.web)
        if broker not in active_brokers:
            return _not_active(self.web, broker)
        try:
            patch = await request.json()
        except Exception:
            return self.json({"error": "body must be a JSON object"}, status=400)
        if not isinstance(patch, dict):
            return self.json({"error": "body must be a JSON object"}, status=400)
        try:
            limits = load_limits(broker).merged(patch)
        except (ValidationError, ValueError) as exc:
            return self.json({"error": str(exc), "fields": sorted(patch)}, status=400)
        await send_risk_command(broker, RiskCommand(action="set_limits", limits=patch))
        return self.json({"broker": broker, "limits": limits.model_dump(mode="json")})


def load_limits(broker: str) -> RiskLimits:
    return load_risk_state(broker).limits


def _state_view(action: str, state: str):
    class TradingStateView(View):
        async def post(self, request: Request, broker: str) -> Response:
            if not _authorized(request):
                return _unauthorized(self.web)
            if broker not in active_brokers:
                return _not_active(self.web, broker)
            reason = ""
            if request.can_read_body:
                try:
                    body = await request.json()
                    reason = str(body.get("reason", "")) if isinstance(body, dict) else ""
                except Exception:
                    reason = ""
            await send_risk_command(broker, RiskCommand(action=action, reason=reason))
            return self.json({"broker": broker, "state": state})

    TradingStateView.__name__ = f"Risk{action.title()}View"
    return TradingStateView


app.page("/api/v1/risk/{broker}/halt", name="risk_halt")(_state_view("halt", "HALTED"))
app.page("/api/v1/risk/{broker}/reduce", name="risk_reduce")(_state_view("reduce", "REDUCING"))
app.page("/api/v1/risk/{broker}/resume", name="risk_resume")(_state_view("resume", "ACTIVE"))


@app.page("/api/v1/health")
class HealthView(View):
    async def get(self, request: Request) -> Response:
        report = health_checks.report()
        return self.json(report, status=200 if report["status"] == "ok" else 503)


@app.page("/")
class DashboardView(View):
    async def get(self, request: Request) -> Response:
        return self.html((STATIC / "dashboard.html").read_text(encoding="utf-8"))
