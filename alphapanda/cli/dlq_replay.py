"""``alphapanda dlq-replay``: send dead letters back to the topic they came from, keys kept.

For the messages that failed for a reason since fixed (a bug, a limit, a venue outage). Each
letter's original bytes go back verbatim; what it did is printed per letter and summed up.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import TextIO

from aiokafka import AIOKafkaConsumer

from alphapanda.end_offsets import end_offsets
from alphapanda.kafka_connection import as_connection
from alphapanda.kafka_io import topic_partitions

from alphapanda.models import EventType
from alphapanda.models.wire import PoisonMessage, decode_event
from alphapanda.producer_metadata import TrackingProducer
from alphapanda.topics import DLQ_SUFFIX

__all__ = ["DlqReplaySummary", "replay_dead_letters", "DlqReplayError"]


class DlqReplayError(RuntimeError):
    pass


@dataclass
class DlqReplaySummary:
    dlq: str
    read: int = 0
    replayed: int = 0
    skipped: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)

    def line(self, dry_run: bool) -> str:
        verb = "would replay" if dry_run else "replayed"
        where = ", ".join(f"{n} to {t}" for t, n in sorted(self.by_topic.items())) or "nothing"
        return f"{self.dlq}: read {self.read} dead letters, {verb} {self.replayed} ({where}), skipped {self.skipped}"


def _original_bytes(data: dict) -> bytes:
    if data.get("value_encoding") == "base64":
        return base64.b64decode(data["value"])
    return data["value"].encode("utf-8")


async def _read_all(bootstrap: str, topic: str, limit: int | None) -> list:
    consumer = AIOKafkaConsumer(**as_connection(bootstrap).options(), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = await topic_partitions(consumer, topic)
        if not tps:
            raise DlqReplayError(f"topic {topic!r} does not exist")
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await end_offsets(consumer, tps)
        records = []
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(timeout_ms=500)
            for tp_records in batch.values():
                records.extend(tp_records)
        records.sort(key=lambda r: (r.timestamp, r.partition, r.offset))
        return records[:limit] if limit is not None else records
    finally:
        await consumer.stop()


async def replay_dead_letters(
    bootstrap: str, dlq: str, *, dry_run: bool = False, limit: int | None = None, out: TextIO | None = None,
) -> DlqReplaySummary:
    """Replay the letters of ``dlq`` (a ``*.dlq`` topic) to their original topics, oldest first."""
    if not dlq.endswith(DLQ_SUFFIX):
        raise DlqReplayError(f"{dlq!r} is not a dead-letter topic (names end in {DLQ_SUFFIX})")
    summary = DlqReplaySummary(dlq)
    records = await _read_all(bootstrap, dlq, limit)
    producer = None if dry_run else TrackingProducer(**as_connection(bootstrap).options(), linger_ms=5)
    if producer is not None:
        await producer.start()
    try:
        for record in records:
            summary.read += 1
            try:
                letter = decode_event(record.value, EventType.DEAD_LETTER).data
            except PoisonMessage as exc:
                summary.skipped += 1
                _say(out, f"  skip {record.partition}:{record.offset}: not a dead letter ({exc})")
                continue
            target = letter.original_topic
            key = letter.key.encode() if letter.key is not None else None
            if producer is not None:
                await producer.send_and_wait(target, key=key, value=_original_bytes(letter.model_dump()))
            summary.replayed += 1
            summary.by_topic[target] = summary.by_topic.get(target, 0) + 1
            _say(out, f"  {'would send' if dry_run else 'sent'} {record.partition}:{record.offset} -> {target} "
                      f"key={letter.key!r} ({letter.error_type}: {letter.error[:80]})")
    finally:
        if producer is not None:
            await producer.stop()
    _say(out, summary.line(dry_run))
    return summary


def _say(out: TextIO | None, text: str) -> None:
    if out is not None:
        print(text, file=out, flush=True)


def summary_json(summary: DlqReplaySummary, dry_run: bool) -> str:
    return json.dumps({"dlq": summary.dlq, "read": summary.read, "replayed": summary.replayed,
                       "skipped": summary.skipped, "by_topic": summary.by_topic, "dry_run": dry_run})
