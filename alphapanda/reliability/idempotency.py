"""Applying a message to a table record exactly once, without transactions.

Faust on this broker is at-least-once: after a crash, messages since the last committed offset
are delivered again, while some of the table writes they caused may already be in the changelog.
Every record written while handling a message therefore remembers the position (topic, partition,
offset) of the last message applied to it. Offsets only grow within a partition and each record is
written only from its own partition, so a redelivered message is recognised per record: a record
whose remembered offset is at or past the message's was already changed by it.

Records written by several handlers keep one position per source topic-partition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alphapanda.reliability.path import SourceMessage

__all__ = ["APPLIED", "applied", "stamped", "source_of"]

#: The key under which a record keeps the positions of the messages applied to it.
APPLIED = "_applied"


def source_of(message: "SourceMessage") -> str:
    return f"{message.topic}:{message.partition}"


def applied(record: dict[str, Any] | None, message: "SourceMessage") -> bool:
    """True when ``message`` (or a later one of its partition) was already applied to ``record``."""
    if not record or message.offset is None:
        return False
    last = record.get(APPLIED, {}).get(source_of(message))
    return last is not None and last >= message.offset


def stamped(record: dict[str, Any], message: "SourceMessage") -> dict[str, Any]:
    """``record`` marked as changed by ``message`` (a new dict: tables change only by assignment)."""
    if message.offset is None:
        return record
    positions = dict(record.get(APPLIED, {}))
    positions[source_of(message)] = message.offset
    return {**record, APPLIED: positions}
