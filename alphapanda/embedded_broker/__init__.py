"""The embedded local broker: Apache Kafka (KRaft) by default, Tansu as the no-JVM fallback.

- :mod:`.install` resolves the pinned Kafka release from Maven Central (``make install``);
- :mod:`.kafka` formats, starts and stops a Kafka node whose data survives restarts and crashes;
- :mod:`.tansu` runs the memory-only Tansu broker (``EMBEDDED_BROKER=tansu``);
- :mod:`.tools` runs Kafka's console tools from the same jars.
"""

from __future__ import annotations

from pathlib import Path

from alphapanda.embedded_broker.errors import BrokerError, MissingTool
from alphapanda.embedded_broker.kafka import KafkaBroker
from alphapanda.embedded_broker.tansu import TansuBroker, tansu_available

__all__ = [
    "BrokerError", "EmbeddedBroker", "KafkaBroker", "MissingTool", "TansuBroker", "embedded_broker",
    "kafka_missing", "tansu_available",
]

EmbeddedBroker = KafkaBroker | TansuBroker


def kafka_missing() -> str | None:
    """Why the embedded Kafka cannot run here (no Java, jars not installed), or None."""
    from alphapanda.embedded_broker import install

    try:
        install.require()
    except MissingTool as exc:
        return str(exc)
    return None


def embedded_broker(kind: str, host: str, port: int, data_dir: Path, *, heap_mb: int = 256) -> EmbeddedBroker:
    """The embedded broker of ``kind`` (``EMBEDDED_BROKER``: ``kafka`` or ``tansu``)."""
    if kind == "tansu":
        return TansuBroker(host, port, data_dir)
    return KafkaBroker(host, port, data_dir, heap_mb=heap_mb)
