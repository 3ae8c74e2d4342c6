"""The processing path of one message, shared by every agent.

decode -> validate -> deduplicate -> handle -> emit:

- decode/validate: bytes become a typed :class:`Envelope` or a :class:`PoisonMessage`, which
  goes to the topic's DLQ at once with its reason;
- contract: the envelope's ``broker`` must be the broker of the topic it arrived on (isolation);
- deduplicate: an event id this stage has already handled, from another message, is skipped
  (``seen`` store); the same message redelivered after a crash goes on to the handler, whose
  records recognise it (:mod:`alphapanda.reliability.idempotency`), because the seen mark and
  the handler's writes are separate records that a crash may have split;
- handle: the stage's domain call; transient failures are retried with backoff, then DLQ;
- emit: outputs are sent and acknowledged by Kafka before the message counts as handled, so a
  crash can only cause a redelivery (handled idempotently), never a lost output.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import Awaitable, Callable, Iterable, MutableMapping, Protocol

from alphapanda import metrics, tracing
from alphapanda.logs import describe_context, event_context
from alphapanda.models import Envelope, EventType
from alphapanda.models.wire import ContractViolation, PoisonMessage, decode_event, encode_event
from alphapanda.reliability.dead_letters import DeadLetterWriter, dead_letter_for
from alphapanda.reliability.idempotency import APPLIED, applied, stamped
from alphapanda.reliability.retry import RetryPolicy
from alphapanda.topics import UnknownBrokerTopic, broker_of, dlq_of

__all__ = ["SourceMessage", "Emit", "Outcome", "EventPath", "TRANSIENT_ERRORS", "Sender"]

log = logging.getLogger(__name__)

#: Failures worth retrying: the next attempt may succeed.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (asyncio.TimeoutError, TimeoutError, ConnectionError)


@dataclass(frozen=True)
class SourceMessage:
    """Where a message came from and its bytes: everything a dead letter needs."""

    topic: str
    partition: int | None
    offset: int | None
    key: bytes | None
    value: bytes | None
    #: Kafka headers (the trace context of the span that sent it, when tracing is on).
    headers: tuple[tuple[str, bytes], ...] | None = None

    @classmethod
    def from_event(cls, event) -> "SourceMessage":  # a faust.Event
        message = event.message
        headers = message.headers
        if isinstance(headers, Mapping):
            headers = tuple(headers.items())
        return cls(message.topic, message.partition, message.offset, message.key, message.value,
                   tuple(headers) if headers else None)


@dataclass(frozen=True)
class Emit:
    """An output of a handler: an envelope for a topic, with its key."""

    topic: str
    key: str
    event: Envelope
    #: Kafka headers to send it with (the trace context of a chain's first span).
    headers: tuple[tuple[str, bytes], ...] | list[tuple[str, bytes]] | None = None


@dataclass(frozen=True)
class Outcome:
    """What a stateful handler decided: outputs to send, then the state writes to make.

    ``commit`` runs only after every output is acknowledged, so a crash leaves either the old
    state (the message is handled again, with the same deterministic outputs) or the new one
    (the redelivery is recognised, see :mod:`alphapanda.reliability.idempotency`).
    """

    emits: list[Emit] = field(default_factory=list)
    commit: Callable[[], None] | None = None


class Sender(Protocol):
    """Sends one message and returns once Kafka acknowledged it; ``headers`` only when there are."""

    async def __call__(self, topic: str, key: bytes | None, value: bytes, **headers) -> None: ...


def _enqueue_with(send: Sender):
    """``enqueue`` for a sender that has none (a test's): its sends run as tasks, in call order."""
    async def enqueue(*args, **kwargs):
        return asyncio.ensure_future(send(*args, **kwargs))

    return enqueue


Handler = Callable[[Envelope, str | None, SourceMessage], Awaitable["Outcome | Iterable[Emit]"]]


class EventPath:
    """Runs one stage's handler over messages, with DLQ, retries, dedup and acknowledged emits.

    service: the stage's name (DLQ ``service`` and metric label).
    expected: the event type each consumed topic carries, by topic name.
    send: sends bytes to a topic and returns once the broker acknowledged them.
    seen: event ids already handled (a Faust table in agents, a dict in tests), or None.
    retry: the policy for transient failures.
    """

    def __init__(
        self,
        *,
        service: str,
        expected: dict[str, EventType],
        send: Sender,
        seen: MutableMapping[str, dict] | None = None,
        retry: RetryPolicy = RetryPolicy(),
        broker_scoped: bool = True,
    ) -> None:
        self.service = service
        self.expected = expected
        self.send = send
        self.seen = seen
        self.retry = retry
        self.broker_scoped = broker_scoped
        self.dead_letters = DeadLetterWriter(send)
        self._latency = metrics.HANDLER_LATENCY.labels(service)

    def broker_for(self, topic: str) -> str | None:
        return broker_of(topic) if self.broker_scoped else None

    async def process(self, message: SourceMessage, handle: Handler) -> bool:
        """Take one message down the path; True when it was handled (not dead-lettered/skipped)."""
        try:
            broker = self.broker_for(message.topic)
        except UnknownBrokerTopic as exc:
            await self.dead_letter(message, None, ContractViolation(str(exc)), attempts=1)
            return False
        try:
            event = self.decode(message, broker)
        except PoisonMessage as exc:
            await self.dead_letter(message, broker, exc, attempts=1)
            return False

        seen_key = f"{broker}:{event.id}" if broker else event.id
        if self.seen is not None and self._seen_elsewhere(self.seen.get(seen_key), message):
            metrics.EVENTS_DEDUPLICATED.labels(self.service, broker or "market").inc()
            context = self._context(message, event, broker)
            log.info("duplicate event skipped%s", describe_context(context), extra=context)
            return False

        with tracing.stage_span(self.service, message.topic, event, broker=broker, partition=message.partition,
                                offset=message.offset, incoming=message.headers):
            handled = await self._handle(message, event, broker, handle)
        if not handled:
            return False
        if self.seen is not None:
            self.seen[seen_key] = stamped({"at": event.timestamp.timestamp()}, message)
        label = broker or "market"
        metrics.EVENTS_PROCESSED.labels(self.service, label).inc()
        metrics.LAST_EVENT_TIME.labels(self.service, label).set(time.time())
        return True

    async def _handle(self, message: SourceMessage, event: Envelope, broker: str | None, handle: Handler) -> bool:
        """Handle and emit, with retries of transient failures; False when dead-lettered."""
        attempt = 0
        started = time.perf_counter()
        while True:
            attempt += 1
            try:
                result = await handle(event, broker, message)
                outcome = result if isinstance(result, Outcome) else Outcome(list(result))
                await self.emit(outcome.emits)
                if outcome.commit is not None:
                    outcome.commit()
                break
            except TRANSIENT_ERRORS as exc:
                if attempt >= self.retry.attempts:
                    await self.dead_letter(message, broker, exc, attempts=attempt, event=event)
                    return False
                context = self._context(message, event, broker)
                log.warning(
                    "transient failure (attempt %d/%d): %r%s", attempt, self.retry.attempts, exc,
                    describe_context(context), extra=context,
                )
                await asyncio.sleep(self.retry.delay(attempt))
            except PoisonMessage as exc:  # a contract error found by the handler
                await self.dead_letter(message, broker, exc, attempts=attempt, event=event)
                return False
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug: never retried forever, never dropped
                context = self._context(message, event, broker)
                log.exception("handler failed%s", describe_context(context), extra=context)
                await self.dead_letter(message, broker, exc, attempts=attempt, event=event)
                return False
        self._latency.observe(time.perf_counter() - started)
        return True

    @staticmethod
    def _seen_elsewhere(record: dict | None, message: SourceMessage) -> bool:
        """A seen mark left by another message (a duplicate), not by this one redelivered."""
        if record is None:
            return False
        if not isinstance(record, dict) or APPLIED not in record:
            return True
        return not applied(record, message)

    def decode(self, message: SourceMessage, broker: str | None) -> Envelope:
        expected = self.expected.get(message.topic)
        if expected is None:
            raise ContractViolation(f"{self.service} does not consume topic {message.topic!r}")
        event = decode_event(message.value, expected)
        if broker is not None and event.broker != broker:
            raise ContractViolation(
                f"envelope broker {event.broker!r} does not match topic broker {broker!r}"
            )
        return event

    async def emit(self, outputs: list[Emit]) -> None:
        """Send ``outputs`` and return once Kafka acknowledged every one."""
        if outputs:
            await asyncio.gather(*await self.enqueue(outputs))

    async def enqueue(self, outputs: list[Emit]) -> list[asyncio.Future]:
        """Hand ``outputs`` to the producer and return their acknowledgements, not awaited.

        For a stage that must not wait a round trip per batch: it keeps the acks and relies on
        the outputs (commits what caused them) only once they are all done.
        """
        traced = tracing.headers()  # the current stage span's context, for the next stage
        enqueue = getattr(self.send, "enqueue", None) or _enqueue_with(self.send)
        # In the order they were made: a batch of ticks' signals reach Kafka in tick order, so
        # the next stage sees them in that order (and a replayed tape gives the same decisions).
        acks = []
        for output in outputs:
            headers = output.headers or traced
            value = encode_event(output.event)
            if headers:
                acks.append(await enqueue(output.topic, output.key.encode(), value, headers=headers))
            else:
                acks.append(await enqueue(output.topic, output.key.encode(), value))
        return acks

    async def dead_letter(
        self,
        message: SourceMessage,
        broker: str | None,
        exc: BaseException,
        *,
        attempts: int,
        event: Envelope | None = None,
    ) -> None:
        error_type = getattr(exc, "error_type", None) or type(exc).__name__
        letter = dead_letter_for(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            value=message.value,
            error_type=error_type,
            error=str(exc) or repr(exc),
            service=self.service,
            attempts=attempts,
            broker=broker,
        )
        context = self._context(message, event, broker)
        log.warning("dead-lettered %s: %s%s", error_type, str(exc)[:300], describe_context(context), extra=context)
        tracing.failed(error_type, str(exc))
        await self.dead_letters.write(letter, message.key)
        metrics.DLQ_MESSAGES.labels(self.service, broker or "market", dlq_of(message.topic)).inc()
        metrics.EVENTS_FAILED.labels(self.service, broker or "market").inc()

    def _context(self, message: SourceMessage, event: Envelope | None, broker: str | None) -> dict:
        return event_context(
            broker=broker, topic=message.topic,
            correlation_id=event.correlation_id if event else None, event_id=event.id if event else None,
        )
