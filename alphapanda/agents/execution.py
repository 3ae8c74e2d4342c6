"""Stage 3: ``{broker}.signals.validated`` -> the broker's venue -> ``{broker}.orders.*``.

One lane (agent) per active broker, all from the same code: a slow or failing venue (a hanging
Zerodha API) fills only its own lane's buffer and never delays another broker's orders. The lane
never branches on the broker name; the venue registry decides what serves it.
"""

from __future__ import annotations

from datetime import datetime

from mode import Service

from alphapanda.agents.common import active_brokers, event_path
from alphapanda.agents.market_view import market_view
from alphapanda.app import app, settings
from alphapanda.execution.orders import OrderRecord
from alphapanda.execution.registry import build_venue
from alphapanda.execution.venue import Cancelled, Failed, Fill, OrderRequest, Submitted, Venue, VenueEvent
from alphapanda.ids import derived_id
from alphapanda.models import Envelope, EventType, OrderFailed, OrderFilled, OrderPlaced, ValidatedSignal
from alphapanda.reliability import Emit, SourceMessage
from alphapanda.tables import orders
from alphapanda.topics import BrokerTopics, account_of

SERVICE = "execution"

venues: dict[str, Venue] = {broker: build_venue(broker, settings) for broker in active_brokers}


def order_key(broker: str, order_id: str) -> str:
    return f"{broker}:{order_id}"


def outcome_emits(record: OrderRecord, event: VenueEvent, cause: Envelope, topics: BrokerTopics) -> list[Emit]:
    """The contract event for one venue outcome of an order."""
    base = dict(
        order_id=record.order_id, signal_id=record.signal_id, strategy_id=record.strategy_id,
        instrument_token=record.instrument_token, side=record.side,
    )
    account = account_of(record.broker)
    if isinstance(event, Submitted):
        payload = OrderPlaced(**base, quantity=record.quantity, order_type=record.order_type,
                              limit_price=record.limit_price, venue_order_id=event.venue_order_id)
        return [Emit(topics.orders_submitted, account, cause.caused(
            EventType.ORDER_PLACED, payload, source=SERVICE, broker=record.broker,
            event_id=derived_id("submitted", record.order_id)))]
    if isinstance(event, Fill):
        payload = OrderFilled(**base, quantity=event.quantity, fill_id=event.fill_id, fill_price=event.price,
                              commission=event.commission, filled_quantity=record.filled_quantity)
        return [Emit(topics.orders_filled, account, cause.caused(
            EventType.ORDER_FILLED, payload, source=SERVICE, broker=record.broker,
            event_id=derived_id("filled", event.fill_id)))]
    if isinstance(event, (Failed, Cancelled)):
        code = event.reason_code if isinstance(event, Failed) else "CANCELLED"
        remaining = max(record.quantity - record.filled_quantity, 1)
        payload = OrderFailed(**base, quantity=remaining, reason_code=code, reason=event.reason or code)
        return [Emit(topics.orders_failed, account, cause.caused(
            EventType.ORDER_FAILED, payload, source=SERVICE, broker=record.broker,
            event_id=derived_id("failed", record.order_id)))]
    raise TypeError(f"unknown venue event {event!r}")


def apply_outcomes(record: OrderRecord, events: list[VenueEvent], cause: Envelope, at: datetime) -> tuple[OrderRecord, list[Emit]]:
    topics = BrokerTopics(record.broker)
    emits: list[Emit] = []
    for event in events:
        if not record.applies(event):
            continue
        record = record.apply(event, at)
        emits.extend(outcome_emits(record, event, cause, topics))
    return record, emits


async def handle_validated(event: Envelope, broker: str, message: SourceMessage) -> list[Emit]:
    validated: ValidatedSignal = event.data
    signal = validated.signal
    order_id = derived_id("order", event.causation_id or event.id)
    key = order_key(broker, order_id)
    if orders.get(key) is not None:
        return []  # this signal already made its order: never two orders for one signal
    request = OrderRequest(
        order_id=order_id, broker=broker, account_id=account_of(broker), signal_id=event.causation_id or event.id,
        strategy_id=signal.strategy_id, instrument_token=signal.instrument_token, side=signal.signal_type,
        quantity=signal.quantity, order_type=signal.order_type, limit_price=signal.limit_price,
        reference_price=signal.price, created_at=signal.timestamp,
    )
    record = OrderRecord.new(request)
    outcomes = await venues[broker].place(request, market_view.last_tick(signal.instrument_token))
    record, emits = apply_outcomes(record, outcomes, event, signal.timestamp)
    orders[key] = record.to_dict()
    return emits


def _lane(broker: str):
    topics = BrokerTopics(broker)
    path = event_path(f"{SERVICE}", {topics.signals_validated: EventType.VALIDATED_SIGNAL})
    topic = app.topic(topics.signals_validated, key_serializer="raw", value_serializer="raw")

    async def execution_lane(stream) -> None:
        async for event in stream.events():
            await path.process(SourceMessage.from_event(event), handle_validated)

    execution_lane.__name__ = f"execution_{broker}"
    return app.agent(topic, name=f"execution.{broker}")(execution_lane)


lanes = {broker: _lane(broker) for broker in active_brokers}


class VenueLifecycle(Service):
    """Opens every venue before the worker processes orders and closes them on shutdown."""

    async def on_start(self) -> None:
        for venue in venues.values():
            await venue.start()

    async def on_stop(self) -> None:
        for venue in venues.values():
            await venue.stop()


app.service(VenueLifecycle())
