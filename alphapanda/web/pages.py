"""Health, the list of active brokers, and the dashboard page."""

from __future__ import annotations

from pathlib import Path

from faust.web import Request, Response, View

from alphapanda import health as health_checks
from alphapanda.agents.common import active_brokers
from alphapanda.agents.observability import kafka_reachability
from alphapanda.app import app
from alphapanda.execution.registry import live_brokers

__all__ = ["HealthView", "BrokersView", "DashboardView", "brokers_view"]

STATIC = Path(__file__).parent / "static"


@app.page("/api/v1/health")
class HealthView(View):
    async def get(self, request: Request) -> Response:
        # Asked now, not only by the timer: app timers start once startup has finished, which a
        # broker gone during startup holds back.
        await kafka_reachability.probe()
        report = health_checks.report()
        return self.json(report, status=200 if report["status"] == "ok" else 503)


def brokers_view() -> dict:
    """The active brokers in configured order, and whether each one trades real money."""
    live = live_brokers()
    return {"brokers": [{"name": b, "live": b in live} for b in active_brokers]}


@app.page("/api/v1/brokers")
class BrokersView(View):
    async def get(self, request: Request) -> Response:
        return self.json(brokers_view())


@app.page("/")
class DashboardView(View):
    async def get(self, request: Request) -> Response:
        # Read on each request: the page is small, and an edited file shows without a restart.
        return self.html((STATIC / "dashboard.html").read_text(encoding="utf-8"))
