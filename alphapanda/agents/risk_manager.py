"""Stage 2: ``{broker}.signals.raw`` -> risk checks -> ``.signals.validated`` / ``.signals.rejected``.

The risk state of each broker (limits, trading state, committed exposure) lives in the
``risk-state`` table, keyed by account, so it is on the partition of that account's order flow.
The same stage applies control commands (limit changes, halt/reduce/resume), releases exposure of
failed orders, and reads realized PnL from the portfolio's snapshots, all in order with signals.

The stage runs in its broker's execution lane (:mod:`alphapanda.agents.execution`), which places
the order of an approved signal in the same step: the order path skips a broker round trip, and a
broker's risk decisions wait only for its own venue. ``.signals.validated`` is still written,
for everything that reads it.
"""

from __future__ import annotations

from datetime import timezone

from alphapanda import metrics
from alphapanda.agents.common import event_path
from alphapanda.app import settings
from alphapanda.ids import derived_id
from alphapanda.models import (
    Envelope, EventType, OrderFailed, PortfolioSummary, RejectedSignal, TradingSignal,
    ValidatedSignal,
)
from alphapanda.reliability import Emit, EventPath, Outcome, SourceMessage, applied, stamped
from alphapanda.risk.engine import RiskEngine
from alphapanda.risk.state import AccountRisk
from alphapanda.risk.limits import InvalidLimits, RiskLimits
from alphapanda.models.wire import InvalidEvent
from alphapanda.tables import risk_state
from alphapanda.topics import BrokerTopics, account_of

SERVICE = "risk_manager"

engine = RiskEngine()


def risk_inputs(broker: str) -> dict[str, EventType]:
    """The topics of ``broker`` the risk stage reads, with the event type each carries."""
    topics = BrokerTopics(broker)
    return {
        topics.signals_raw: EventType.TRADING_SIGNAL,
        topics.risk_control: EventType.RISK_COMMAND,
        topics.orders_failed: EventType.ORDER_FAILED,
        topics.pnl_snapshots: EventType.PNL_SNAPSHOT,
    }


def risk_path(broker: str) -> EventPath:
    """The event path of ``broker``'s risk stage (its DLQ service, metrics and seen marks)."""
    return event_path(SERVICE, risk_inputs(broker))


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
