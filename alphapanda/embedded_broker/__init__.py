"""The embedded local broker: Apache Kafka (KRaft) by default, Tansu as the no-JVM fallback.

- :mod:`.install` resolves the pinned Kafka release from Maven Central (``make install``);
- :mod:`.kafka` makes, starts and stops a local Kafka cluster (one node, or N with
  ``--nodes``; SASL_SSL with ``--security``) whose data survives restarts and crashes, of
  :mod:`.kafka_node` nodes, with :mod:`.tls` making its certificates;
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


def embedded_broker(kind: str, host: str, port: int, data_dir: Path, *, heap_mb: int = 256,
                    nodes: int | None = None, security: str | None = None,
                    sasl_username: str | None = None, sasl_password: str | None = None) -> EmbeddedBroker:
    """The embedded broker of ``kind`` (``EMBEDDED_BROKER``: ``kafka`` or ``tansu``).

    ``nodes`` and ``security`` (Kafka only) of None mean what the cluster in ``data_dir`` was
    made with; a new one is one plaintext node.
    """
    if kind == "tansu":
        if (nodes or 1) > 1 or (security or "plaintext") != "plaintext":
            raise BrokerError("EMBEDDED_BROKER=tansu runs one plaintext node: --nodes and --security need Kafka")
        return TansuBroker(host, port, data_dir)
    return KafkaBroker(host, port, data_dir, heap_mb=heap_mb, nodes=nodes, security=security,
                       sasl_username=sasl_username, sasl_password=sasl_password)
