"""alphapanda.tracing without a worker: off it does nothing; on, a stage span is the child of the
traceparent it was sent with, and a dead-lettered event marks its span failed."""

from types import SimpleNamespace

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from alphapanda import tracing

EVENT = SimpleNamespace(id="e-1", correlation_id="c-1", type="trading_signal")


@pytest.fixture
def traced(monkeypatch):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "enabled", True)
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))
    return exporter


def test_off_nothing_is_made():
    assert tracing.enabled is False
    assert tracing.chain_start("strategy_runner", "market.ticks", EVENT) is None
    with tracing.stage_span("risk_manager", "paper.signals.raw", EVENT, incoming=[("traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01")]):
        assert tracing.headers() is None


def test_a_stage_span_continues_the_chain_of_its_input(traced):
    headers = tracing.chain_start("strategy_runner", "market.ticks", EVENT, partition=3, offset=41)
    with tracing.stage_span("risk_manager", "paper.signals.raw", EVENT, broker="paper", incoming=headers):
        onward = tracing.headers()
    root, child = traced.get_finished_spans()
    assert child.parent.span_id == root.context.span_id and child.context.trace_id == root.context.trace_id
    assert dict(onward)["traceparent"].decode().split("-")[2] == f"{child.context.span_id:016x}"
    assert root.attributes["messaging.kafka.partition"] == 3 and child.attributes["alphapanda.correlation_id"] == "c-1"


def test_no_traceparent_no_span_and_a_dead_letter_fails_the_span(traced):
    with tracing.stage_span("risk_manager", "paper.signals.raw", EVENT, incoming=[("other", b"x")]):
        assert tracing.headers() is None
    assert traced.get_finished_spans() == ()
    headers = tracing.chain_start("strategy_runner", "market.ticks", EVENT)
    with tracing.stage_span("portfolio", "paper.orders.filled", EVENT, incoming=headers):
        tracing.failed("DecodeError", "not JSON")
    span = traced.get_finished_spans()[-1]
    assert span.status.status_code.name == "ERROR" and "DecodeError: not JSON" in span.status.description
    assert span.attributes["alphapanda.dead_lettered"] is True
