"""What every agent shares: the acknowledged sender and the event path factory."""

from __future__ import annotations

from alphapanda.app import app, settings
from alphapanda.kafka_io import TopicSender
from alphapanda.models import EventType
from alphapanda.reliability import EventPath
from alphapanda.tables import seen_events

__all__ = ["sender", "event_path", "active_brokers"]

sender = TopicSender(app)
active_brokers: tuple[str, ...] = settings.active_brokers


def event_path(service: str, expected: dict[str, EventType], *, dedupe: bool = True, broker_scoped: bool = True) -> EventPath:
    return EventPath(
        service=service,
        expected=expected,
        send=sender,
        seen=_StageSeen(service) if dedupe else None,
        broker_scoped=broker_scoped,
    )


class _StageSeen:
    """The shared seen-events table, namespaced by stage (a dict-like view)."""

    def __init__(self, stage: str) -> None:
        self._prefix = stage + ":"

    def __contains__(self, key: str) -> bool:
        return seen_events.get(self._prefix + key) is not None

    def get(self, key: str, default=None):
        return seen_events.get(self._prefix + key, default)

    def __setitem__(self, key: str, value: dict) -> None:
        seen_events[self._prefix + key] = value

    def __getitem__(self, key: str) -> dict:
        return seen_events[self._prefix + key]

    def __delitem__(self, key: str) -> None:
        del seen_events[self._prefix + key]

    def __iter__(self):
        raise TypeError("not iterable")

    def __len__(self) -> int:
        raise TypeError("no length")
