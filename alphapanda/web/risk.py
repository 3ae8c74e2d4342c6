"""Risk views: state and limits per broker; changes go through the broker's control topic."""

from __future__ import annotations

from faust.web import Request, Response, View
from pydantic import ValidationError

from alphapanda.agents.common import active_brokers, sender
from alphapanda.agents.risk_manager import load_state as load_risk_state
from alphapanda.app import app
from alphapanda.models import Envelope, EventType, RiskCommand, new_event_id
from alphapanda.models.wire import encode_event
from alphapanda.risk.limits import RiskLimits
from alphapanda.tables import risk_state
from alphapanda.topics import BrokerTopics, account_of
from alphapanda.web.common import not_active, routed


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

        return await routed(self, request, risk_state, broker, local)


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
        if broker not in active_brokers:
            return not_active(self.web, broker)
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
            if broker not in active_brokers:
                return not_active(self.web, broker)
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


