"""Bytes <-> envelopes: the one place that turns wire JSON into validated models and back.

Decoding failures are classified, because they decide where a message goes: a poison message
(:class:`PoisonMessage` and subclasses) goes to the topic's DLQ at once.
"""

from __future__ import annotations

from pydantic import ValidationError

from alphapanda.models.events import Envelope, EventType
from alphapanda.models.registry import envelope_type

__all__ = [
    "MAX_EVENT_BYTES",
    "PoisonMessage",
    "MalformedMessage",
    "InvalidEvent",
    "ContractViolation",
    "MessageTooLarge",
    "decode_event",
    "encode_event",
]

# Far above any real event (a full tick with depth is ~2 KB); bounds memory per message.
MAX_EVENT_BYTES = 256 * 1024


class PoisonMessage(Exception):
    """A message that no retry can fix: it goes to the DLQ with this error."""

    error_type = "PoisonMessage"


class MalformedMessage(PoisonMessage):
    error_type = "DecodeError"


class InvalidEvent(PoisonMessage):
    error_type = "ValidationError"


class ContractViolation(PoisonMessage):
    error_type = "ContractError"


class MessageTooLarge(PoisonMessage):
    error_type = "MessageTooLarge"


_DECODE_ERROR_TYPES = {"json_invalid", "json_type"}


def _describe(exc: ValidationError, limit: int = 5) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:limit]:
        loc = ".".join(str(x) for x in err["loc"]) or "<root>"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - limit
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)


def decode_event(raw: bytes | str | None, expected: EventType) -> Envelope:
    """Validate ``raw`` as an envelope of ``expected`` type, or raise a :class:`PoisonMessage`."""
    if raw is None:
        raise MalformedMessage("empty message value (null)")
    if len(raw) > MAX_EVENT_BYTES:
        raise MessageTooLarge(f"message is {len(raw)} bytes; the limit is {MAX_EVENT_BYTES}")
    try:
        event = envelope_type(expected).model_validate_json(raw)
    except ValidationError as exc:
        if exc.errors()[0]["type"] in _DECODE_ERROR_TYPES:
            raise MalformedMessage(f"not valid JSON: {_describe(exc, 1)}") from None
        raise InvalidEvent(_describe(exc)) from None
    if event.type is not expected:
        raise ContractViolation(f"event type {event.type.value!r} on a topic of {expected.value!r}")
    return event


def encode_event(event: Envelope) -> bytes:
    return event.model_dump_json().encode()
