"""Sending from inside the worker: one cached Faust topic per name, sends awaited until acked."""

from __future__ import annotations

import faust

__all__ = ["TopicSender"]


class TopicSender:
    """``await sender(topic, key, value)`` returns once Kafka acknowledged the message."""

    def __init__(self, app: faust.App) -> None:
        self._app = app
        self._topics: dict[str, faust.TopicT] = {}

    def topic(self, name: str) -> faust.TopicT:
        topic = self._topics.get(name)
        if topic is None:
            topic = self._topics[name] = self._app.topic(name, key_serializer="raw", value_serializer="raw")
        return topic

    async def __call__(self, topic: str, key: bytes | None, value: bytes) -> None:
        future = await self.topic(topic).send(key=key, value=value)
        await future
