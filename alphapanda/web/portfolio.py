"""Portfolio views: summary and positions per broker, the all-brokers aggregate, recent orders."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from faust.web import Request, Response, View

from alphapanda.agents.common import active_brokers
from alphapanda.agents.portfolio import summary_of
from alphapanda.app import app
from alphapanda.execution.orders import OrderRecord
from alphapanda.tables import accounts, orders
from alphapanda.web.common import routed
from alphapanda.web.symbols import with_symbols

RECENT_ORDERS = 200


@app.page("/api/v1/portfolios/{broker}/summary")
class PortfolioSummaryView(View):
    async def get(self, request: Request, broker: str) -> Response:
        if broker == "all":
            return await self._all(request)

        async def local() -> Response:
            summary = summary_of(broker).model_dump(mode="json")
            return self.json({**summary, "positions": with_symbols(summary["positions"])})

        return await routed(self, request, accounts, broker, local)

    async def _all(self, request: Request) -> Response:
        # Each broker's summary from whichever worker owns it (this one included), concurrently.
        base = str(request.url.with_path("/").with_query(None)).rstrip("/")

        async def one(session: aiohttp.ClientSession, broker: str) -> tuple[int, Any]:
            async with session.get(f"{base}/api/v1/portfolios/{broker}/summary") as response:
                return response.status, (await response.json() if response.status == 200 else None)

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            answers = await asyncio.gather(*(one(session, b) for b in active_brokers), return_exceptions=True)
        summaries: dict[str, Any] = {}
        for broker, answer in zip(active_brokers, answers):
            if isinstance(answer, BaseException) or answer[0] != 200:
                return self.json({"error": f"summary of {broker} unavailable", "broker": broker}, status=503)
            summaries[broker] = answer[1]
        total = sum(s["total_pnl"] for s in summaries.values())
        return self.json({"brokers": summaries, "total_pnl": round(total, 6)})


@app.page("/api/v1/portfolios/{broker}/positions")
class PositionsView(View):
    async def get(self, request: Request, broker: str) -> Response:
        async def local() -> Response:
            summary = summary_of(broker)
            positions = with_symbols([p.model_dump(mode="json") for p in summary.positions])
            return self.json({"broker": broker, "positions": positions})

        return await routed(self, request, accounts, broker, local)


@app.page("/api/v1/orders/{broker}")
class OrdersView(View):
    async def get(self, request: Request, broker: str) -> Response:
        async def local() -> Response:
            prefix = f"{broker}:"
            records = [OrderRecord.from_dict(v) for k, v in orders.items() if k.startswith(prefix) and v]
            records.sort(key=lambda r: r.updated_at or r.created_at, reverse=True)
            return self.json({"broker": broker, "orders": with_symbols([r.to_dict() for r in records[:RECENT_ORDERS]])})

        return await routed(self, request, orders, broker, local)


