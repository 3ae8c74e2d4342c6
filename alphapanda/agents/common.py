"""What every agent shares: the acknowledged sender and the event path factory."""

from __future__ import annotations

from alphapanda.app import app, settings
from alphapanda.kafka_io import TopicSender
from alphapanda.models import EventType
from alphapanda.reliability import EventPath
from alphapanda.tables import SEEN_WINDOW, seen_events

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
    """The shared seen-events table, namespaced by stage (a dict-like view).

    Looks in the window of the current event's time and the window before it.
    """

    def __init__(self, stage: str) -> None:
        self._prefix = stage + ":"

    def get(self, key: str, default=None):
        window = seen_events[self._prefix + key]
        value = window.current()
        if value is None:
            value = window.delta(SEEN_WINDOW)
        return default if value is None else value

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def __setitem__(self, key: str, value: dict) -> None:
        seen_events[self._prefix + key] = value
