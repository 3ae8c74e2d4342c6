"""Creating the pipeline's topics with the configured partition count."""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

__all__ = ["ensure_topics", "PartitionCountMismatch"]


class PartitionCountMismatch(RuntimeError):
    pass


async def ensure_topics(bootstrap: str, names: list[str], partitions: int, *, timeout: float = 20.0) -> list[str]:
    """Create the missing topics; returns the names created. Existing topics must match ``partitions``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            await admin.create_topics([NewTopic(n, num_partitions=partitions, replication_factor=1) for n in missing])
        present = [n for n in names if n in existing]
        if present:
            described = await admin.describe_topics(present)
            wrong = [
                f"{d['topic']} has {len(d['partitions'])}"
                for d in described if len(d.get("partitions", [])) != partitions
            ]
            if wrong:
                raise PartitionCountMismatch(
                    f"TOPIC_PARTITIONS={partitions}, but existing topics differ: {', '.join(wrong)}"
                )
        # Created topics become visible to metadata a moment later on some brokers.
        for _ in range(50):
            if set(names) <= set(await admin.list_topics()):
                break
            await asyncio.sleep(0.1)
        return missing
    finally:
        await admin.close()
