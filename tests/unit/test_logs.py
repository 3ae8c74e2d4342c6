"""Log lines about events carry their context, as JSON fields or appended text."""

import json
import logging

from alphapanda.logs import JsonFormatter, describe_context, event_context, logging_config


def record(**extra):
    rec = logging.LogRecord("alphapanda.reliability.path", logging.WARNING, __file__, 1, "dead-lettered %s", ("DecodeError",), None)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_json_lines_carry_the_event_context():
    context = event_context(broker="paper", topic="paper.signals.raw", correlation_id="c-1", event_id="e-1")
    line = json.loads(JsonFormatter().format(record(**context)))
    assert line["message"] == "dead-lettered DecodeError" and line["level"] == "WARNING"
    assert (line["broker"], line["topic"], line["correlation_id"], line["event_id"]) == ("paper", "paper.signals.raw", "c-1", "e-1")
    assert line["ts"].endswith("Z")


def test_json_lines_leave_out_absent_context():
    line = json.loads(JsonFormatter().format(record()))
    assert "broker" not in line and "correlation_id" not in line


def test_text_messages_get_the_context_appended():
    text = describe_context(event_context(broker="zerodha", topic="zerodha.orders.updates", correlation_id="c-9"))
    assert text == " [broker=zerodha topic=zerodha.orders.updates correlation_id=c-9]"
    assert describe_context(event_context()) == ""


def test_json_logging_is_configured_only_when_asked():
    assert logging_config("text") is None
    config = logging_config("json")
    assert config["formatters"]["json"]["()"] == "alphapanda.logs.JsonFormatter"


def test_json_access_lines_carry_the_request_fields():
    fields = {"method": "GET", "path": "/api/v1/health", "status": 200, "latency_ms": 1.25,
              "request_id": "r-1", "correlation_id": "c-1"}
    line = json.loads(JsonFormatter().format(record(**fields)))
    assert {k: line[k] for k in fields} == fields
