"""Stage 2: ``{broker}.signals.raw`` -> risk checks -> ``.signals.validated`` / ``.signals.rejected``.

The risk state of each broker (limits, trading state, committed exposure) lives in the
``risk-state`` table, keyed by account, so it is on the partition of that account's order flow.
The same agent applies control commands (limit changes, halt/reduce/resume), releases exposure of
failed orders, and reads realized PnL from the portfolio's snapshots, all in order with signals.
"""

from __future__ import annotations

from datetime import timezone

from alphapanda import metrics
from alphapanda.agents.common import active_brokers, event_path
from alphapanda.app import app, settings
from alphapanda.ids import derived_id
from alphapanda.models import (
    Envelope, EventType, OrderFailed, PortfolioSummary, RejectedSignal, TradingSignal,
    ValidatedSignal,
)
from alphapanda.reliability import Emit, Outcome, SourceMessage, applied, stamped
from alphapanda.risk.engine import RiskEngine
from alphapanda.risk.state import AccountRisk
from alphapanda.risk.limits import InvalidLimits, RiskLimits
from alphapanda.models.wire import InvalidEvent
from alphapanda.tables import risk_state
from alphapanda.topics import BrokerTopics, account_of

SERVICE = "risk_manager"

_expected: dict[str, EventType] = {}
for _broker in active_brokers:
    _t = BrokerTopics(_broker)
    _expected[_t.signals_raw] = EventType.TRADING_SIGNAL
    _expected[_t.risk_control] = EventType.RISK_COMMAND
    _expected[_t.orders_failed] = EventType.ORDER_FAILED
    _expected[_t.pnl_snapshots] = EventType.PNL_SNAPSHOT

risk_topic = app.topic(*_expected, key_serializer="raw", value_serializer="raw")
path = event_path(SERVICE, _expected)
engine = RiskEngine()


def limits_for_broker(broker: str) -> RiskLimits:
    """The limits a broker starts with before any runtime change: RISK__<BROKER>__* over the defaults."""
    return RiskLimits.from_mapping(settings.risk.get(broker, {}))


def load_state(broker: str, record: dict | None = None) -> AccountRisk:
    """The broker's risk state, from ``record`` when the caller read it already."""
    if record is None:
        record = risk_state.get(account_of(broker))
    return AccountRisk.from_dict(record["risk"]) if record else AccountRisk.initial(limits_for_broker(broker))


def commit_state(broker: str, state: AccountRisk, message: SourceMessage, record: dict | None):
    """Write ``state`` over ``record`` (the stored record the event was decided on)."""
    def commit() -> None:
        risk_state[account_of(broker)] = stamped({**(record or {}), "risk": state.to_dict()}, message)

    return commit


async def handle(event: Envelope, broker: str, message: SourceMessage) -> Outcome:
    # Read (and decoded) once per event: only this agent writes the record, one event at a time,
    # so it is still the stored one when the commit runs after the outputs are acknowledged.
    record = risk_state.get(account_of(broker))
    if applied(record, message):
        return Outcome()  # redelivered after a crash: its decision was sent and its state saved
    state = load_state(broker, record)
    if event.type is EventType.TRADING_SIGNAL:
        decision = engine.check(event.data, state)
        return Outcome(decision_emits(event, broker, decision), commit_state(broker, decision.new_state, message, record))
    if event.type is EventType.RISK_COMMAND:
        try:
            state = engine.apply_command(state, event.data, at=event.timestamp)
        except InvalidLimits as exc:
            raise InvalidEvent(f"risk command rejected: {exc}") from None
    elif event.type is EventType.ORDER_FAILED:
        failed: OrderFailed = event.data
        state = engine.on_order_failed(state, failed.instrument_token, failed.side.sign * failed.quantity)
    elif event.type is EventType.PNL_SNAPSHOT:
        summary: PortfolioSummary = event.data
        at = summary.updated_at or event.timestamp
        today = summary.realized_pnl_today if summary.realized_pnl_today is not None else summary.realized_pnl
        state = engine.on_realized_pnl(state, at.astimezone(timezone.utc).date(), today)
    return Outcome(commit=commit_state(broker, state, message, record))


def decision_emits(event: Envelope, broker: str, decision) -> list[Emit]:
    topics = BrokerTopics(broker)
    signal: TradingSignal = event.data
    if decision.approved:
        metrics.RISK_DECISIONS.labels(broker, "validated", "").inc()
        out = event.caused(
            EventType.VALIDATED_SIGNAL,
            ValidatedSignal(signal=signal, risk=decision.assessment),
            source=SERVICE, broker=broker, event_id=derived_id("validated", event.id),
        )
        return [Emit(topics.signals_validated, account_of(broker), out)]
    metrics.RISK_DECISIONS.labels(broker, "rejected", str(decision.reason_code)).inc()
    out = event.caused(
        EventType.REJECTED_SIGNAL,
        RejectedSignal(signal=signal, reason_code=str(decision.reason_code), reason=decision.reason),
        source=SERVICE, broker=broker, event_id=derived_id("rejected", event.id),
    )
    return [Emit(topics.signals_rejected, account_of(broker), out)]


@app.agent(risk_topic, name=SERVICE)
async def risk_manager(stream):
    async for event in stream.events():
        # Yielding lets sinks (and Faust's test context) observe each message once it is handled.
        yield await path.process(SourceMessage.from_event(event), handle)
