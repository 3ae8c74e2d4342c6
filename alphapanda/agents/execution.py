"""Stage 3: ``{broker}.signals.validated`` -> the broker's venue -> ``{broker}.orders.*``.

One lane (agent) per active broker, all from the same code: a slow or failing venue (a hanging
Zerodha API) fills only its own lane's buffer and never delays another broker's orders. The lane
never branches on the broker name; the venue registry decides what serves it, and the venue
says what it needs (ticks for working orders, order updates, a trading halt).

A lane reads, all keyed by the broker's account and so on the partition of its orders:

- the risk stage's topics (:mod:`alphapanda.agents.risk_manager`): ``.signals.raw``,
  ``.risk.control``, ``.orders.failed``, ``.pnl.snapshots``. The order of a signal the risk stage
  approves is placed in the same step, and the step's outputs (the validated signal, then the
  order's outcomes) are acknowledged before the risk state is saved: the order path has one
  broker round trip fewer (about a quarter of tick -> fill in the bench);
- ``{broker}.signals.validated``: place the order (once per signal, whatever the redelivery) of a
  signal validated elsewhere; the lane's own validated signals carry a :data:`PLACED_HEADER` and
  are passed over, their orders exist;
- ``{broker}.orders.updates``: the venue's own order updates (Kite websocket frames, postbacks);
- ``{broker}.orders.triggers``: ticks its working orders wait for (venues that match on ticks),
  fed by :class:`TickTriggers` from the worker's group-less tick tail.

Orders table entries: ``"{broker}:{order_id}"`` -> :class:`OrderRecord`; and two indexes whose
keys cannot collide with those (broker names never start with ``#``):
``"#working:{broker}"`` -> {order id: instrument} of orders waiting for ticks, and
``"#ref:{broker}:{ref}"`` -> order id, the reference the venue's updates carry (Kite's tag).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from datetime import datetime
from typing import Iterable

from faust.types import TP
from mode import Service

from alphapanda import metrics, tracing
from alphapanda.agents import risk_manager as risk
from alphapanda.agents.common import active_brokers, event_path, sender
from alphapanda.agents.market_view import market_view
from alphapanda.agents.tick_tail import tick_tail
from alphapanda.app import app, settings
from alphapanda.execution.orders import OrderRecord, OrderState, TickStamp
from alphapanda.execution.registry import build_venue, venue_spec
from alphapanda.execution.tick_watch import TickWatch, after_creation
from alphapanda.execution.venue import Cancelled, Failed, Fill, OrderRequest, Submitted, Venue, VenueEvent
from alphapanda.ids import derived_id
from alphapanda.logs import describe_context, event_context
from alphapanda.models import (
    Envelope, EventType, MarketTick, OrderFailed, OrderFilled, OrderPlaced, RiskCommand,
    ValidatedSignal, VenueOrderUpdate,
)
from alphapanda.models.wire import InvalidEvent, PoisonMessage, decode_event, encode_event
from alphapanda.reliability import Emit, EventPath, Outcome, SourceMessage
from alphapanda.tables import orders
from alphapanda.topics import BrokerTopics, account_of, account_partition

__all__ = [
    "SERVICE", "venues", "executions", "lanes", "tick_watch", "tick_triggers", "ExecutionLane",
    "lane_agent", "order_key", "working_key", "ref_key", "TickTriggers", "trigger", "working_orders",
    "PLACED_HEADER",
]

log = logging.getLogger(__name__)

SERVICE = "execution"

#: Kafka header of a validated signal whose order its lane placed when it validated it.
PLACED_HEADER = "alphapanda-order-placed"

venues: dict[str, Venue] = {broker: build_venue(broker, settings) for broker in active_brokers}
tick_watch = TickWatch()


def order_key(broker: str, order_id: str) -> str:
    return f"{broker}:{order_id}"


def working_key(broker: str) -> str:
    return f"#working:{broker}"


def ref_key(broker: str, ref: str) -> str:
    return f"#ref:{broker}:{ref}"


def load_order(broker: str, order_id: str) -> OrderRecord | None:
    raw = orders.get(order_key(broker, order_id))
    return OrderRecord.from_dict(raw) if raw else None


def outcome_emits(record: OrderRecord, event: VenueEvent, cause: Envelope, topics: BrokerTopics) -> list[Emit]:
    """The contract events of one venue outcome of an order (ids derived, so re-sends dedupe)."""
    base = dict(
        order_id=record.order_id, signal_id=record.signal_id, strategy_id=record.strategy_id,
        instrument_token=record.instrument_token, side=record.side,
    )
    account = record.account_id or account_of(record.broker)

    def envelope(event_type: EventType, payload, event_id: str) -> Envelope:
        # In the order's chain (the signal's correlation id), caused by what produced the outcome.
        return Envelope[type(payload)](
            id=event_id, type=event_type, correlation_id=record.correlation_id or cause.correlation_id,
            causation_id=cause.id, source=SERVICE, broker=record.broker, data=payload,
        )

    if isinstance(event, Submitted):
        payload = OrderPlaced(**base, quantity=record.quantity, order_type=record.order_type,
                              limit_price=record.limit_price, venue_order_id=event.venue_order_id)
        return [Emit(topics.orders_submitted, account,
                     envelope(EventType.ORDER_PLACED, payload, derived_id("submitted", record.order_id)))]
    if isinstance(event, Fill):
        filled = sum(f.quantity for f in record.fills[: record.fill_ids.index(event.fill_id) + 1])
        payload = OrderFilled(**base, quantity=event.quantity, fill_id=event.fill_id, fill_price=event.price,
                              commission=event.commission, filled_quantity=filled, filled_at=event.timestamp)
        return [Emit(topics.orders_filled, account,
                     envelope(EventType.ORDER_FILLED, payload, derived_id("filled", event.fill_id)))]
    if isinstance(event, (Failed, Cancelled)):
        code = event.reason_code if isinstance(event, Failed) else "CANCELLED"
        remaining = max(record.quantity - record.filled_quantity, 1)
        payload = OrderFailed(**base, quantity=remaining, reason_code=code, reason=event.reason or code)
        emits = [Emit(topics.orders_failed, account,
                      envelope(EventType.ORDER_FAILED, payload, derived_id("failed", record.order_id)))]
        if isinstance(event, Failed) and event.halts_trading:
            # Nothing can trade on this venue until an operator acts: stop the risk stage from
            # validating more orders (in order with the account's signals, like an operator halt).
            command = RiskCommand(action="halt", reason=f"{code}: {event.reason}"[:500])
            emits.append(Emit(topics.risk_control, account,
                              envelope(EventType.RISK_COMMAND, command, derived_id("halt", record.order_id))))
        return emits
    raise TypeError(f"unknown venue event {event!r}")


def apply_outcomes(record: OrderRecord, events: Iterable[VenueEvent], cause: Envelope, at: datetime,
                   *, count: bool = True) -> tuple[OrderRecord, list[Emit]]:
    """The record after ``events`` (outcomes already applied are skipped) and what to emit;
    ``count`` adds them to ``trading_order_outcomes_total`` (not when events are only re-sent)."""
    topics = BrokerTopics(record.broker)
    emits: list[Emit] = []
    for event in events:
        if not record.applies(event):
            continue
        record = record.apply(event, at)
        emits.extend(outcome_emits(record, event, cause, topics))
        if count:
            _count_outcome(record.broker, event)
    return record, emits


def _count_outcome(broker: str, event: VenueEvent) -> None:
    if isinstance(event, Fill):
        outcome, code = "filled", ""
    elif isinstance(event, Failed):
        outcome, code = "failed", event.reason_code
    elif isinstance(event, Cancelled):
        outcome, code = "cancelled", ""
    else:
        outcome, code = "submitted", ""
    metrics.ORDER_OUTCOMES.labels(broker, outcome, str(code)).inc()


class ExecutionLane:
    """Everything one broker's lane does with a message; the Faust agent only feeds it.

    Responsibilities: one order per validated signal (the orders table decides, not memory);
    venue outcomes applied to the order's lifecycle and emitted as contract events; working
    orders of tick-matching venues progressed by their trigger ticks; the venue's order updates
    applied to the order they are about.
    """

    def __init__(self, broker: str, venue: Venue, triggers: "TickTriggers") -> None:
        self.broker = broker
        self.venue = venue
        self.triggers = triggers
        self.topics = BrokerTopics(broker)
        self.account = account_of(broker)
        self.risk_path: EventPath = risk.risk_path(broker)
        self.orders_path: EventPath = event_path(SERVICE, {
            self.topics.signals_validated: EventType.VALIDATED_SIGNAL,
            self.topics.venue_updates: EventType.VENUE_ORDER_UPDATE,
        })
        # Ticks are idempotent per order (OrderRecord.is_new_tick): no seen-table write per tick.
        self.ticks_path: EventPath = event_path(
            SERVICE, {self.topics.order_triggers: EventType.MARKET_TICK}, dedupe=False)
        self._latency = metrics.HANDLER_LATENCY.labels(SERVICE)
        self._placed_seconds: list[float] = []  # orders placed in the current risk step

    @property
    def topic_names(self) -> list[str]:
        names = [*self.risk_path.expected, self.topics.signals_validated, self.topics.venue_updates]
        if self.venue.matches_on_ticks:
            names.append(self.topics.order_triggers)
        return names

    async def process(self, message: SourceMessage) -> bool:
        if message.topic == self.topics.order_triggers:
            return await self.ticks_path.process(message, self.handle)
        if message.topic in self.risk_path.expected:
            return await self._decide(message)
        if message.topic == self.topics.signals_validated and _placed_by_lane(message):
            return False  # its order was placed in the step that validated it
        return await self.orders_path.process(message, self.handle)

    # Risk, and the order of an approved signal -------------------------------------------------

    async def _decide(self, message: SourceMessage) -> bool:
        handled = await self.risk_path.process(message, self.decide)
        if handled:
            # The placements count as the execution stage's work (metrics, health's event age).
            for seconds in self._placed_seconds:
                self._latency.observe(seconds)
                metrics.EVENTS_PROCESSED.labels(SERVICE, self.broker).inc()
            if self._placed_seconds:
                metrics.LAST_EVENT_TIME.labels(SERVICE, self.broker).set(time.time())
        return handled

    async def decide(self, event: Envelope, broker: str, message: SourceMessage) -> Outcome:
        """The risk stage's decision on ``event``; the order of an approved signal is placed now.

        A crash before the outputs are acknowledged leaves the risk state unsaved: the signal is
        decided again, the same way, and :meth:`on_validated` finds the order it made and sends
        its outcomes again (the same ids) instead of placing a second one.
        """
        self._placed_seconds.clear()  # of an earlier attempt (a transient failure), if any
        outcome = await risk.handle(event, broker, message)
        emits: list[Emit] = []
        for emit in outcome.emits:
            if emit.event.type is not EventType.VALIDATED_SIGNAL:
                emits.append(emit)
                continue
            emits.append(dataclasses.replace(emit, headers=[*(tracing.headers() or ()), (PLACED_HEADER, b"1")]))
            emits.extend(await self._place(emit.event))
        return Outcome(emits, outcome.commit)

    async def _place(self, validated: Envelope) -> list[Emit]:
        started = time.perf_counter()
        # The execution stage's own span, the child of the risk stage's, as when it read the topic.
        with tracing.stage_span(SERVICE, self.topics.signals_validated, validated, broker=self.broker,
                                incoming=tracing.headers()):
            emits = await self.on_validated(validated)
            traced = tracing.headers()
        self._placed_seconds.append(time.perf_counter() - started)
        return [dataclasses.replace(e, headers=traced) for e in emits] if traced else emits

    async def handle(self, event: Envelope, broker: str, message: SourceMessage) -> list[Emit]:
        if event.type is EventType.VALIDATED_SIGNAL:
            return await self.on_validated(event)
        if event.type is EventType.MARKET_TICK:
            return await self.on_tick(event)
        if event.type is EventType.VENUE_ORDER_UPDATE:
            return await self.on_venue_update(event)
        raise InvalidEvent(f"execution does not handle {event.type}")

    # Orders from signals ------------------------------------------------------------------

    async def on_validated(self, event: Envelope) -> list[Emit]:
        validated: ValidatedSignal = event.data
        signal = validated.signal
        signal_id = event.causation_id or event.id
        order_id = derived_id("order", signal_id)
        existing = load_order(self.broker, order_id)
        if existing is not None and existing.state is not OrderState.NEW:
            # This signal already made its order: never a second one. Its outcomes are sent
            # again (same ids), in case the first run stopped before they were acknowledged.
            _, emits = apply_outcomes(_blank(existing), existing.outcomes(), event, signal.timestamp, count=False)
            return emits
        request = OrderRequest(
            order_id=order_id, broker=self.broker, account_id=self.account, signal_id=signal_id,
            strategy_id=signal.strategy_id, instrument_token=signal.instrument_token,
            side=signal.signal_type, quantity=signal.quantity, order_type=signal.order_type,
            limit_price=signal.limit_price, reference_price=signal.price, created_at=signal.timestamp,
        )
        record = existing or OrderRecord.new(request, correlation_id=event.correlation_id)
        ref = self.venue.order_ref(order_id)
        if ref is not None:
            orders[ref_key(self.broker, ref)] = order_id
        outcomes = await self.venue.place(request, market_view.last_tick(signal.instrument_token))
        record, emits = apply_outcomes(record, outcomes, event, signal.timestamp)
        self.save(record)
        self._track(record)
        return emits

    # Ticks for working orders -------------------------------------------------------------

    async def on_tick(self, event: Envelope) -> list[Emit]:
        tick: MarketTick = event.data
        emits: list[Emit] = []
        working = orders.get(working_key(self.broker)) or {}
        for order_id, token in working.items():
            if token != tick.instrument_token:
                continue
            record = load_order(self.broker, order_id)
            if record is None or not record.is_working or not record.is_new_tick(tick):
                continue
            outcomes = await self.venue.on_market(record.working(), tick)
            if not outcomes:
                continue  # nothing changed: re-matching this tick later gives nothing either
            record, more = apply_outcomes(record, outcomes, event, tick.timestamp)
            record = record.saw_tick(tick)
            emits.extend(more)
            self.save(record)
            self._track(record)
        return emits

    # Venue order updates ------------------------------------------------------------------

    async def on_venue_update(self, event: Envelope) -> list[Emit]:
        update: VenueOrderUpdate = event.data
        ref = self.venue.update_ref(update.payload)
        if ref is None:
            return []  # not an order update, or not one of our orders (a manual trade)
        order_id = orders.get(ref_key(self.broker, ref))
        record = load_order(self.broker, order_id) if order_id else None
        if record is None:
            context = event_context(broker=self.broker, topic=self.topics.venue_updates,
                                    correlation_id=event.correlation_id, event_id=event.id)
            log.info("order update for unknown reference %s ignored%s", ref, describe_context(context), extra=context)
            return []
        try:
            outcomes = await self.venue.on_update(record.working(), update.payload)
        except ValueError as exc:  # a malformed update of one of our orders
            raise InvalidEvent(f"order update of {order_id}: {exc}") from None
        record, emits = apply_outcomes(record, outcomes, event, event.timestamp)
        if emits:  # a repeated or stale snapshot changes nothing: no table write
            self.save(record)
            self._track(record)
        return emits

    # Table --------------------------------------------------------------------------------

    def save(self, record: OrderRecord) -> None:
        orders[order_key(self.broker, record.order_id)] = record.to_dict()

    def _track(self, record: OrderRecord) -> None:
        """Keep the working-orders index, and the ticks forwarded to this lane, in step with
        ``record``: an order of a tick-matching venue waits for ticks while it works."""
        if not self.venue.matches_on_ticks:
            return
        working = dict(orders.get(working_key(self.broker)) or {})
        waiting = record.order_id in working
        if record.is_working and not waiting:
            working[record.order_id] = record.instrument_token
            orders[working_key(self.broker)] = working
            after = record.last_tick or after_creation(datetime.fromisoformat(record.created_at))
            self.triggers.wait_for(self.broker, record.order_id, record.instrument_token, after)
        elif not record.is_working and waiting:
            del working[record.order_id]
            orders[working_key(self.broker)] = working
            self.triggers.done(self.broker, record.order_id)


def _placed_by_lane(message: SourceMessage) -> bool:
    return any(name == PLACED_HEADER for name, _ in message.headers or ())


def _blank(record: OrderRecord) -> OrderRecord:
    """``record`` as it was before any outcome, to replay its outcomes into events."""
    return OrderRecord.new(record.request(), correlation_id=record.correlation_id)


def trigger(broker: str, tick: Envelope) -> Envelope:
    """A tick of ``market.ticks`` for ``broker``'s lane (same payload, the broker's envelope)."""
    return Envelope[MarketTick](
        id=derived_id("trigger", broker, tick.id), type=EventType.MARKET_TICK,
        correlation_id=tick.correlation_id, causation_id=tick.id, source=SERVICE,
        broker=broker, data=tick.data,
    )


def lane_agent(lane: ExecutionLane, *, name: str | None = None):
    """The Faust agent that feeds ``lane`` its broker's topics."""
    channel = app.topic(*lane.topic_names, key_serializer="raw", value_serializer="raw")

    async def execution_lane(stream) -> None:
        async for event in stream.events():
            await lane.process(SourceMessage.from_event(event))

    execution_lane.__name__ = f"execution_{lane.broker}"
    return app.agent(channel, name=name or f"execution.{lane.broker}")(execution_lane)




class VenueLifecycle(Service):
    """Opens every venue before the worker processes orders and closes them on shutdown."""

    async def on_start(self) -> None:
        for broker, venue in venues.items():
            await venue.start()
            # A live lane whose postbacks cannot be verified refuses them; say so once, and why.
            if venue_spec(broker).live and (refusal := venue.postback_refusal()) is not None:
                self.log.warning("%s: %s; its order updates come from the Kite websocket only", broker, refusal)

    async def on_stop(self) -> None:
        for venue in venues.values():
            await venue.stop()


class TickTriggers(Service):
    """Forwards the ticks working orders wait for to their broker's trigger topic.

    A reader of the worker's tick tail (every ``market.ticks`` partition, like the market
    view): per tick it only records the raw bytes in the :class:`TickWatch` and asks it who
    waits; it decodes and sends only ticks of instruments with working orders. One sender
    task sends in FIFO order, so the ticks an order missed (from the history) always go out
    before the live ticks that follow them. Every few seconds it re-reads the working-order
    index from the orders table: after a restart or rebalance the orders this worker owns wait
    again, and orders finished elsewhere stop waiting.
    """

    SYNC_INTERVAL = 2.0

    def __init__(self, watch: TickWatch, brokers: Iterable[str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.watch = watch
        self.brokers = tuple(brokers)
        self._outbox: asyncio.Queue[Emit] = asyncio.Queue()
        self.forwarded = 0

    # What the lanes call (synchronously, so order is kept) ----------------------------------

    def wait_for(self, broker: str, order_id: str, instrument_token: int, after: TickStamp) -> None:
        """``order_id`` waits for ticks of its instrument stamped after ``after``."""
        self.forward(broker, self.watch.watch(broker, order_id, instrument_token, after))

    def done(self, broker: str, order_id: str) -> None:
        self.watch.unwatch(broker, order_id)

    def forward(self, broker: str, ticks: Iterable[Envelope]) -> None:
        topic, account = BrokerTopics(broker).order_triggers, account_of(broker)
        for tick in ticks:
            self._outbox.put_nowait(Emit(topic, account, trigger(broker, tick)))

    # Service ------------------------------------------------------------------------------

    async def on_start(self) -> None:
        if not self.brokers:
            return
        self.add_future(self._send())
        self.add_future(self._sync())

    def read(self, records) -> None:
        """Ticks from the tick tail: forward those a working order waits for."""
        observe = self.watch.observe
        for record in records:
            brokers = observe(record.key, record.value)
            if not brokers:
                continue
            try:
                tick = decode_event(record.value, EventType.MARKET_TICK)
            except PoisonMessage:
                continue  # the strategy runner dead-letters it
            for broker in brokers:
                self.forward(broker, [tick])

    async def _send(self) -> None:
        while not self.should_stop:
            batch = [await self._outbox.get()]
            while not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            try:
                # Enqueued one by one (the producer keeps that order per partition), then acked.
                futures = [await sender.topic(e.topic).send(key=e.key.encode(), value=encode_event(e.event))
                           for e in batch]
                await asyncio.gather(*futures)
                self.forwarded += len(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("tick triggers: send failed (%r); %d ticks not forwarded", exc, len(batch))

    async def _sync(self) -> None:
        while not self.should_stop:
            await self.sleep(self.SYNC_INTERVAL)
            for broker in self.brokers:
                try:
                    working = working_orders(broker)
                    if not _owns_account(broker):  # a standby copy: only let finished orders go
                        waiting = self.watch.waiting(broker)
                        working = {k: v for k, v in working.items() if k in waiting}
                except Exception as exc:  # tables not ready during recovery
                    log.debug("tick triggers: sync of %s skipped: %r", broker, exc)
                    continue
                self.forward(broker, self.watch.sync(broker, working))


def working_orders(broker: str) -> dict[str, tuple[int, TickStamp]]:
    """``broker``'s orders waiting for ticks, as this worker's orders table knows them."""
    working = {}
    for order_id, token in (orders.get(working_key(broker)) or {}).items():
        record = load_order(broker, order_id)
        if record is not None and record.is_working:
            after = record.last_tick or after_creation(datetime.fromisoformat(record.created_at))
            working[order_id] = (int(token), after)
    return working


def _owns_account(broker: str) -> bool:
    """Whether this worker owns the broker's account partition (standby table copies do not)."""
    partition = account_partition(broker, settings.topic_partitions)
    try:
        return TP(BrokerTopics(broker).signals_validated, partition) in app.assignor.assigned_actives()
    except Exception:
        return False


app.service(VenueLifecycle())
tick_triggers = app.service(TickTriggers(tick_watch, [b for b in active_brokers if venues[b].matches_on_ticks]))
if tick_triggers.brokers:
    tick_tail.add_reader("tick triggers", tick_triggers.read, history=tick_watch.history)
executions: dict[str, ExecutionLane] = {
    broker: ExecutionLane(broker, venues[broker], tick_triggers) for broker in active_brokers}
lanes = {broker: lane_agent(lane) for broker, lane in executions.items()}
