"""``alphapanda record FILE``: ``market.ticks`` to a tape that ``replay`` and ``backtest`` read.

Each line is a tick's whole envelope, as it is on the topic (the tape format of
:mod:`alphapanda.market.tape`). Without ``--from-beginning`` the recording starts at the end of
every partition and takes ticks as they arrive until Ctrl-C (or ``--seconds`` / ``--max-ticks``),
in arrival order. With it, what the topic still holds is read first: each partition into a
scratch file sorted by tick timestamp (one partition in memory at a time), then the files merged,
so the tape is in event-time order however the instruments were spread over the partitions; the
recording then goes on live (``--seconds 0`` stops right after the history).

A group-less consumer: recording never takes partitions from the workers.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from alphapanda.end_offsets import end_offsets
from alphapanda.kafka_connection import KafkaConnection
from alphapanda.kafka_io import topic_partitions
from alphapanda.market.tape import TapeTick, parse_line
from alphapanda.topics import MARKET_TICKS

__all__ = ["RecordSummary", "record_ticks"]


@dataclass(frozen=True, slots=True)
class RecordSummary:
    recorded: int
    skipped: int
    seconds: float

    def line(self, path: Path) -> str:
        skipped = f"; skipped {self.skipped} message(s) that are not valid ticks" if self.skipped else ""
        return f"recorded {self.recorded} ticks to {path} in {self.seconds:.1f} s{skipped}"


def _tick_line(value: bytes | None) -> tuple[float, str] | None:
    """(sort key: the tick's timestamp, the line) of a valid tick message, else None."""
    if value is None:
        return None
    try:
        raw = value.decode("utf-8")
    except UnicodeDecodeError:
        return None
    line = parse_line(0, raw)
    if not isinstance(line, TapeTick):
        return None
    return line.tick.timestamp.timestamp(), raw


async def record_ticks(connection: KafkaConnection, path: Path, *, from_beginning: bool = False,
                       seconds: float | None = None, max_ticks: int | None = None,
                       stop: asyncio.Event | None = None) -> RecordSummary:
    started = time.monotonic()
    consumer = AIOKafkaConsumer(**connection.options(), group_id=None, enable_auto_commit=False)
    await consumer.start()
    recorded = skipped = 0
    try:
        tps = await topic_partitions(consumer, MARKET_TICKS)
        if not tps:
            raise RuntimeError(f"{MARKET_TICKS} does not exist (alphapanda topics create)")
        consumer.assign(tps)
        ends = await end_offsets(consumer, tps)
        with open(path, "w", encoding="utf-8") as tape:
            if from_beginning:
                await consumer.seek_to_beginning(*tps)
                recorded, skipped = await _history(consumer, ends, tape, max_ticks)
            else:
                for tp in tps:
                    consumer.seek(tp, ends[tp])
            deadline = None if seconds is None else started + seconds
            while (max_ticks is None or recorded < max_ticks) and not (stop and stop.is_set()):
                if deadline is not None and time.monotonic() >= deadline:
                    break
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    for record in records:
                        found = _tick_line(record.value)
                        if found is None:
                            skipped += 1
                            continue
                        tape.write(found[1] + "\n")
                        recorded += 1
                        if max_ticks is not None and recorded >= max_ticks:
                            break
                tape.flush()
    finally:
        await consumer.stop()
    return RecordSummary(recorded, skipped, time.monotonic() - started)


async def _history(consumer: AIOKafkaConsumer, ends: dict, tape, max_ticks: int | None) -> tuple[int, int]:
    """What the topic holds now, merged from its partitions by tick timestamp."""
    skipped = 0
    with tempfile.TemporaryDirectory(prefix="alphapanda-record-") as scratch:
        files = []
        for tp, end in ends.items():
            rows = []
            while end and await consumer.position(tp) < end:
                batch = await consumer.getmany(tp, timeout_ms=500)
                for record in batch.get(tp, ()):
                    if record.offset >= end:
                        break
                    found = _tick_line(record.value)
                    if found is None:
                        skipped += 1
                    else:
                        rows.append(found)
            # A partition's ticks are in time order per instrument, not across its instruments.
            rows.sort(key=lambda row: row[0])
            part = Path(scratch) / f"{tp.partition}.jsonl"
            part.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
            files.append(part)
        streams = [(json.loads(line) for line in open(part, encoding="utf-8")) for part in files]
        recorded = 0
        for _, line in heapq.merge(*streams, key=lambda r: r[0]):
            if max_ticks is not None and recorded >= max_ticks:
                break
            tape.write(line + "\n")
            recorded += 1
    # Continue live from the end of what was read.
    for tp, end in ends.items():
        consumer.seek(tp, end)
    return recorded, skipped
