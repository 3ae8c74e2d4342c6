"""Health and the dashboard page."""

from __future__ import annotations

from pathlib import Path

from faust.web import Request, Response, View

from alphapanda import health as health_checks
from alphapanda.app import app

STATIC = Path(__file__).parent / "static"


@app.page("/api/v1/health")
class HealthView(View):
    async def get(self, request: Request) -> Response:
        report = health_checks.report()
        return self.json(report, status=200 if report["status"] == "ok" else 503)


@app.page("/")
class DashboardView(View):
    async def get(self, request: Request) -> Response:
        return self.html((STATIC / "dashboard.html").read_text(encoding="utf-8"))
