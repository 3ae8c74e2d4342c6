"""``alphapanda replay FILE``: a JSONL tape of ticks to ``market.ticks``, with progress and a summary.

The replay itself is :class:`~alphapanda.market.feeds.ReplayFeed` (the same code that runs as the
leader's feed with ``MARKET_FEED=replay:PATH``); this module adds what a person at a terminal
needs: a progress bar on stderr when it is a terminal, and one summary line at the end.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from alphapanda.market.feeds import FeedState, ReplayFeed, ReplayProgress
from alphapanda.kafka_probe import is_tansu
from alphapanda.market.publisher import TickPublisher
from alphapanda.settings import ProducerSettings
from alphapanda.topics import MARKET_TICKS, dlq_of

__all__ = ["ReplaySummary", "ProgressBar", "count_lines", "replay_tape"]


@dataclass(frozen=True, slots=True)
class ReplaySummary:
    """What a replay did: ticks and dead letters acknowledged by the broker, and how fast."""

    published: int
    invalid: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.published / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        return (
            f"published {self.published} ticks, {self.invalid} invalid lines to "
            f"{dlq_of(MARKET_TICKS)} in {self.seconds:.2f} s ({self.rate:,.0f} ticks/s)"
        )


def count_lines(path: Path, chunk: int = 1 << 20) -> int:
    """Lines of a file (a last line without newline counts), at disk speed, for the progress bar."""
    lines, last = 0, b"\n"
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n")


class ProgressBar:
    """A one-line bar redrawn in place at most ``hz`` times a second; silent when not a terminal."""

    def __init__(self, total: int, stream: TextIO, *, label: str = "replay", width: int = 30,
                 hz: float = 10.0) -> None:
        self.total = max(total, 1)
        self.stream = stream
        self.label = label
        self.width = width
        self.enabled = stream.isatty()
        self._interval = 1.0 / hz
        self._drawn_at = 0.0

    def update(self, progress: ReplayProgress) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not progress.done and now - self._drawn_at < self._interval:
            return
        self._drawn_at = now
        fraction = min(progress.lines / self.total, 1.0)
        filled = int(fraction * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(
            f"\r{self.label} [{bar}] {fraction:4.0%} {progress.lines:,}/{self.total:,} lines "
            f"{progress.rate:,.0f} ticks/s "
        )
        if progress.done:
            self.stream.write("\n")
        self.stream.flush()


async def replay_tape(
    path: Path, bootstrap: str, *, speed: float = 1.0, max_wait: float | None = None,
    progress_stream: TextIO = sys.stderr, tuning: ProducerSettings | None = None,
) -> ReplaySummary:
    """Publishes the tape at ``path`` through a batching producer; returns once all is acknowledged."""
    bar = ProgressBar(count_lines(path) if progress_stream.isatty() else 0, progress_stream,
                      label=path.name)
    feed = ReplayFeed(path, speed=speed, max_wait=max_wait, on_progress=bar.update)
    state = FeedState(kind="replay")
    started = time.perf_counter()
    async with TickPublisher(bootstrap, tuning=tuning, tansu=is_tansu(bootstrap)) as publisher:
        await feed.run(publisher, state)
    return ReplaySummary(state.published, state.invalid, time.perf_counter() - started)
