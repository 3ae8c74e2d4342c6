"""Small questions to a Kafka-API server before anything else talks to it."""

from __future__ import annotations

import asyncio
import socket
import threading

__all__ = ["is_listening", "cluster_id", "EMBEDDED_CLUSTER_ID", "is_tansu"]

#: The cluster id the embedded broker is started with, so the app can recognise it.
EMBEDDED_CLUSTER_ID = "alphapanda-embedded"
_TANSU_CLUSTER_IDS = {EMBEDDED_CLUSTER_ID, "tansu_cluster"}


def is_listening(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


async def _cluster_id(kafka, timeout: float) -> str | None:
    from aiokafka import AIOKafkaClient
    from aiokafka.protocol.metadata import MetadataRequest

    from alphapanda.kafka_connection import as_connection

    client = AIOKafkaClient(**as_connection(kafka).options(), request_timeout_ms=int(timeout * 1000))
    try:
        await asyncio.wait_for(client.bootstrap(), timeout)
        response = await asyncio.wait_for(client.send(client.get_random_node(), MetadataRequest([])), timeout)
        return getattr(response, "cluster_id", None)
    finally:
        await client.close()


def cluster_id(bootstrap, timeout: float = 3.0) -> str | None:
    """The cluster id the server reports, or None when it cannot be asked.

    Runs in its own thread and loop, so it is safe to call while an event loop is running.
    """
    result: list[str | None] = [None]

    def ask() -> None:
        try:
            result[0] = asyncio.run(_cluster_id(bootstrap, timeout))
        except Exception:  # unreachable or not Kafka: the caller decides what that means
            result[0] = None

    thread = threading.Thread(target=ask, name="kafka-probe", daemon=True)
    thread.start()
    thread.join(timeout * 3)
    return result[0]


def is_tansu(kafka) -> bool:
    """True when the server at ``kafka`` (``host:port`` or a KafkaConnection) is Tansu (the
    embedded broker), whose quirks need special settings."""
    from alphapanda.kafka_connection import as_connection

    connection = as_connection(kafka)
    if connection.security_protocol != "PLAINTEXT":
        return False  # the embedded Tansu speaks only plaintext
    host, port = connection.hosts[0]
    if not is_listening(host, port):
        return False
    return cluster_id(connection) in _TANSU_CLUSTER_IDS
