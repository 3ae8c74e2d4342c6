"""Dead letters: the failed message, verbatim, with why it failed (CONTRACTS.md, Dead letters)."""

from __future__ import annotations

import base64
from typing import Awaitable, Callable

from alphapanda.models import DeadLetter, Envelope, EventType, new_event_id, utc_now
from alphapanda.models.wire import encode_event
from alphapanda.topics import dlq_of

__all__ = ["dead_letter_for", "DeadLetterWriter"]

Send = Callable[[str, bytes | None, bytes], Awaitable[None]]


def _text_or_base64(value: bytes | None) -> tuple[str, str]:
    if value is None:
        return "", "utf-8"
    try:
        return value.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(value).decode("ascii"), "base64"


def dead_letter_for(
    *,
    topic: str,
    partition: int | None,
    offset: int | None,
    key: bytes | None,
    value: bytes | None,
    error_type: str,
    error: str,
    service: str,
    attempts: int,
    broker: str | None,
) -> Envelope:
    text, encoding = _text_or_base64(value)
    letter = DeadLetter(
        original_topic=topic,
        partition=partition,
        offset=offset,
        key=key.decode("utf-8", "replace") if key is not None else None,
        value=text,
        value_encoding=encoding,
        error_type=error_type,
        error=error[:4000],
        service=service,
        attempts=attempts,
        failed_at=utc_now(),
    )
    # The source position identifies a consumed message; without one (a replayed tape line),
    # only a fresh id keeps letters apart.
    event_id = f"dlq-{topic}-{partition}-{offset}" if offset is not None else new_event_id()
    return Envelope[DeadLetter](
        id=event_id,
        type=EventType.DEAD_LETTER,
        correlation_id=event_id,
        source=service,
        broker=broker,
        data=letter,
    )


class DeadLetterWriter:
    """Sends dead letters to ``{topic}.dlq`` with the original key, and waits for the broker."""

    def __init__(self, send: Send) -> None:
        self._send = send

    async def write(self, letter: Envelope, key: bytes | None) -> None:
        await self._send(dlq_of(letter.data.original_topic), key, encode_event(letter))
