"""What can go wrong when the embedded broker is installed, started or stopped."""

from __future__ import annotations

__all__ = ["BrokerError", "MissingTool"]


class BrokerError(RuntimeError):
    """The embedded broker cannot do what was asked; the message says why."""


class MissingTool(BrokerError):
    """Java, Maven or the installed Kafka jars are not there; the message says how to get them."""
