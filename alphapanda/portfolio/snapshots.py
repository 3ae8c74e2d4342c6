"""When to publish a periodic PnL snapshot: on event-time interval boundaries, never wall time.

Time is cut into fixed intervals of event time counted from the Unix epoch (so every worker and
every replay of a tape cuts it in the same places). A broker's periodic snapshot is due when its
event-time clock enters an interval it has not yet published; the snapshot is stamped with the
interval's start and its id is derived from (account, interval start). A snapshot published
twice (a restart, a partition moving to another worker) therefore carries the same id, and
consumers that deduplicate by event id see it once.

Only the latest interval is published when the clock jumps over several (a gap in the tape, a
fast replay): snapshots describe the account as it is, and repeating one state for every missed
interval would only add noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from alphapanda.ids import derived_id

__all__ = ["SnapshotSchedule", "interval_start", "snapshot_id"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def interval_start(moment: datetime, interval: timedelta) -> datetime:
    """The start of the event-time interval that holds ``moment`` (timezone-aware, UTC)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime: event times must be timezone-aware")
    if interval <= timedelta(0):
        raise ValueError("the interval must be positive")
    elapsed = moment.astimezone(UTC) - _EPOCH
    return _EPOCH + interval * math.floor(elapsed / interval)


def snapshot_id(account_id: str, at: datetime) -> str:
    """The id of the periodic snapshot of ``account_id`` for the interval starting ``at``."""
    return derived_id("pnl-snapshot", account_id, at.astimezone(UTC).isoformat())


@dataclass
class SnapshotSchedule:
    """Which periodic snapshots are due, per account.

    interval: the event-time interval between snapshots (> 0).

    Remembers in memory the last interval published per account; forgetting it (a restart) only
    republishes the current interval under the same id.
    """

    interval: timedelta
    _published: dict[str, datetime] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.interval <= timedelta(0):
            raise ValueError("the snapshot interval must be positive")

    def due(self, account_id: str, clock: datetime) -> datetime | None:
        """The start of the interval to publish for ``account_id`` whose event-time clock reads
        ``clock``, or None when that interval (or a later one) was already published."""
        start = interval_start(clock, self.interval)
        last = self._published.get(account_id)
        return None if last is not None and start <= last else start

    def published(self, account_id: str, start: datetime) -> None:
        """Record that the snapshot of the interval starting ``start`` was sent (and
        acknowledged): it is not due again."""
        last = self._published.get(account_id)
        if last is None or start > last:
            self._published[account_id] = start
