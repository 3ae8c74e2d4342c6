"""The replay feed: a JSONL tape to ``market.ticks``, its bad lines to the DLQ with their reason."""

from __future__ import annotations

import asyncio
import json
import math
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from alphapanda.market.feeds.base import FeedState, Stoppable, TickSink, content_id
from alphapanda.market.publisher import tick_envelope
from alphapanda.market.tape import InvalidTapeLine, TapeLine, TapeTick, pace, read_tape
from alphapanda.models.wire import encode_event
from alphapanda.reliability.dead_letters import dead_letter_for
from alphapanda.topics import MARKET_TICKS, dlq_of

__all__ = ["ReplayFeed", "ReplayProgress", "tape_event_id"]


def tape_event_id(line: TapeLine) -> str:
    """The id of a tape line's event: the envelope's own, else derived from line number and text.

    Derived ids make a replay reproducible: the same tape gives the same events (and the stages
    downstream the same signal, order and fill ids), so replaying it again is a redelivery.
    """
    if isinstance(line, TapeTick) and line.envelope_id:
        return line.envelope_id
    return content_id(b"tape-line", f"{line.line_no}\n{line.raw}")


def _token_of(raw: str) -> str | None:
    """The instrument token of an invalid line, when one can be read (for the DLQ key)."""
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    if isinstance(obj, dict) and isinstance(obj.get("data"), dict):
        obj = obj["data"]
    token = obj.get("instrument_token") if isinstance(obj, dict) else None
    if isinstance(token, int) and not isinstance(token, bool) and token > 0:
        return str(token)
    if isinstance(token, str) and token.isdigit() and int(token) > 0:
        return token
    return None


def _dead_letter(line: InvalidTapeLine) -> tuple[bytes | None, bytes]:
    token = _token_of(line.raw)
    key = token.encode() if token is not None else None
    letter = dead_letter_for(
        topic=MARKET_TICKS, partition=None, offset=None, key=key, value=line.raw.encode("utf-8"),
        error_type=line.error_type, error=f"line {line.line_no}: {line.reason}",
        service="replay", attempts=1, broker=None,
    )
    # Without a partition and offset the default id would be the same for every line.
    letter_id = f"dlq-replay-{tape_event_id(line)}"
    letter = letter.model_copy(update={"id": letter_id, "correlation_id": letter_id})
    return key, encode_event(letter)


@dataclass(frozen=True, slots=True)
class ReplayProgress:
    """Where a replay is: lines read, ticks and dead letters acknowledged, seconds elapsed."""

    lines: int
    published: int
    invalid: int
    elapsed: float
    done: bool = False

    @property
    def rate(self) -> float:
        """Ticks per second so far."""
        return self.published / self.elapsed if self.elapsed > 0 else 0.0


class ReplayFeed(Stoppable):
    """Publishes a JSONL tape (tick payloads or envelopes) to ``market.ticks``, then returns.

    ``speed`` 0 sends as fast as the broker takes it, with up to ``window`` messages in flight;
    1 follows the tick timestamps in real time, 2 twice as fast (``max_wait`` caps one wait, e.g.
    a night between sessions). A line that is not a valid tick goes to ``market.ticks.dlq`` as a
    dead letter with its reason, keyed by its token when one can be read, and the replay goes on.
    Envelope lines keep their id; payload lines get ids derived from the line (:func:`tape_event_id`).
    ``on_progress`` is called about every ``progress_every`` lines and once at the end.
    """

    source = "replay"

    def __init__(
        self,
        path: Path | str,
        *,
        speed: float = 0.0,
        max_wait: float | None = None,
        window: int = 5000,
        on_progress: Callable[[ReplayProgress], None] | None = None,
        progress_every: int = 1000,
    ) -> None:
        super().__init__()
        if not (math.isfinite(speed) and speed >= 0):
            raise ValueError("speed must be a finite number >= 0")
        if window < 1:
            raise ValueError("window must be >= 1")
        self.path = Path(path)
        self.speed = speed
        self.max_wait = max_wait
        self.window = window
        self.on_progress = on_progress
        self.progress_every = max(1, progress_every)
        self.last_progress: ReplayProgress | None = None

    async def run(self, sink: TickSink, state: FeedState) -> None:
        if not self.path.is_file():
            raise FileNotFoundError(f"replay tape {self.path} does not exist")
        loop = asyncio.get_running_loop()
        started = loop.time()
        # (future, the tick's timestamp or None for a dead letter), in send order.
        pending: deque[tuple[Awaitable[Any], datetime | None]] = deque()
        lines = 0
        dlq = dlq_of(MARKET_TICKS)

        async def settle(keep: int) -> None:
            while len(pending) > keep:
                future, tick_at = pending.popleft()
                await future
                if tick_at is None:
                    state.invalid += 1
                else:
                    state.record_ticks(1, tick_at)

        def progress(done: bool = False) -> None:
            self.last_progress = ReplayProgress(
                lines, state.published - published_before, state.invalid - invalid_before,
                loop.time() - started, done,
            )
            if self.on_progress is not None:
                self.on_progress(self.last_progress)

        published_before, invalid_before = state.published, state.invalid
        for paced in pace(read_tape(self.path), self.speed, self.max_wait):
            if self.stopping:
                break
            if paced.wait > 0:
                await settle(0)  # acknowledged before idling, so the state is current
                await self._sleep(started + paced.offset - loop.time())
                if self.stopping:
                    break
            line = paced.line
            if isinstance(line, TapeTick):
                event = tick_envelope(line.tick, source=self.source, event_id=tape_event_id(line))
                future = await sink.publish_raw(line.key.encode(), encode_event(event))
                pending.append((future, line.tick.timestamp))
            else:
                key, value = _dead_letter(line)
                pending.append((await sink.publish_raw(key, value, topic=dlq), None))
            lines += 1
            if len(pending) >= self.window:
                await settle(self.window // 2)
            if lines % self.progress_every == 0:
                progress()
                await asyncio.sleep(0)  # a long tape must not starve the rest of the worker
        await settle(0)
        progress(done=True)
