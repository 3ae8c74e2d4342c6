"""OpenTelemetry tracing of the tick-to-fill chain, off unless ``TRACING__ENABLED=true``.

One trace per chain: it starts where a tick makes a strategy signal (the strategy stage), and
every later stage (risk, execution, portfolio) adds a span that is a child of the span that sent
its input. The trace context travels in the Kafka headers of each output (W3C ``traceparent``),
so the chain is one trace across workers and restarts; the envelope's correlation id is an
attribute of every span (``alphapanda.correlation_id``), to find a trace from a log line.

Ticks that make no signal start no trace: at thousands of ticks a second a span per tick would
cost more than the evaluation itself. Off, every function here is a no-op at the cost of one
boolean test, and the SDK's exporters are never imported.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator, Sequence

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = ["configure", "use_exporter", "enabled", "stage_span", "chain_start", "headers", "failed", "shutdown"]

log = logging.getLogger(__name__)

_propagator = TraceContextTextMapPropagator()
_tracer: trace.Tracer = trace.NoOpTracer()
_provider = None
_exporter_override = None

#: Whether spans are made at all (``TRACING__ENABLED``).
enabled = False

Headers = Sequence[tuple[str, bytes]]


def use_exporter(exporter) -> None:
    """Export to ``exporter`` instead of what ``TRACING__EXPORTER`` says: for programs that embed
    the worker, and for tests (the SDK's ``InMemorySpanExporter``). Call before the app loads."""
    global _exporter_override
    _exporter_override = exporter


def configure(settings) -> None:
    """Set up the tracer from ``settings.tracing``; does nothing when tracing is off."""
    global enabled, _tracer, _provider
    config = settings.tracing
    if not config.enabled:
        return
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    provider = TracerProvider(
        resource=Resource.create({"service.name": config.service_name}),
        # A chain is sampled or not as a whole: later stages follow the decision in the header.
        sampler=ParentBased(TraceIdRatioBased(config.sample_ratio)),
    )
    if _exporter_override is not None:
        provider.add_span_processor(SimpleSpanProcessor(_exporter_override))
    elif config.exporter == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=config.endpoint)))
    _provider = provider
    _tracer = provider.get_tracer("alphapanda")
    enabled = True
    if _exporter_override is not None:
        target = "the embedding program's exporter"
    elif config.exporter == "console":
        target = "the console"
    else:
        target = f"OTLP to {config.endpoint}"
    log.info("tracing on: spans to %s, %.0f%% of chains sampled", target, config.sample_ratio * 100)


def shutdown() -> None:
    """Export what is buffered (the worker's stop)."""
    if _provider is not None:
        _provider.shutdown()


def _attributes(stage: str, topic: str, event, broker: str | None, partition, offset) -> dict:
    attributes = {
        "messaging.system": "kafka", "messaging.destination.name": topic, "alphapanda.stage": stage,
        "alphapanda.correlation_id": event.correlation_id, "alphapanda.event_id": event.id,
        "alphapanda.event_type": str(event.type),
    }
    if broker is not None:
        attributes["alphapanda.broker"] = broker
    if partition is not None:
        attributes["messaging.kafka.partition"] = partition
    if offset is not None:
        attributes["messaging.kafka.offset"] = offset
    return attributes


@contextmanager
def stage_span(stage: str, topic: str, event, *, broker: str | None = None, partition=None, offset=None,
               incoming: Headers | None = None) -> Iterator[None]:
    """A span for one stage handling ``event``, the child of the span that sent it (its
    ``traceparent`` header). Without one (the chain did not start in a traced stage) there is no
    span: only the strategy stage starts chains."""
    if not enabled:
        yield
        return
    parent = _extract(incoming)
    if parent is None:
        yield
        return
    with _tracer.start_as_current_span(
        f"{stage} {topic}", context=parent, kind=SpanKind.CONSUMER,
        attributes=_attributes(stage, topic, event, broker, partition, offset),
    ) as span:
        try:
            yield
        except BaseException as exc:
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise


def chain_start(stage: str, topic: str, event, *, partition=None, offset=None, start_time: int | None = None):
    """Start (and end) the root span of a chain: ``event`` (a tick) made signals. Returns the
    headers its outputs carry, or None when tracing is off or the chain is not sampled."""
    if not enabled:
        return None
    span = _tracer.start_span(
        f"{stage} {topic}", kind=SpanKind.CONSUMER, start_time=start_time,
        attributes=_attributes(stage, topic, event, None, partition, offset),
    )
    try:
        if not span.get_span_context().trace_flags.sampled:
            return None
        return _inject(trace.set_span_in_context(span))
    finally:
        span.end()


def failed(error_type: str, reason: str) -> None:
    """Mark the current stage span failed: its event went to a dead-letter topic."""
    if enabled:
        span = trace.get_current_span()
        span.set_status(Status(StatusCode.ERROR, f"{error_type}: {reason}"[:500]))
        span.set_attribute("alphapanda.dead_lettered", True)


def headers() -> list[tuple[str, bytes]] | None:
    """The trace context of the current span as Kafka headers (None outside a traced span)."""
    if not enabled:
        return None
    span = trace.get_current_span()
    if not span.get_span_context().is_valid:
        return None
    return _inject(otel_context.get_current())


def _inject(ctx) -> list[tuple[str, bytes]]:
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, context=ctx)
    return [(name, value.encode()) for name, value in carrier.items()]


def _extract(incoming: Headers | None):
    if not incoming:
        return None
    carrier = {}
    for name, value in incoming:
        if name in ("traceparent", "tracestate") and value is not None:
            carrier[name] = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    if "traceparent" not in carrier:
        return None
    ctx = _propagator.extract(carrier)
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None
