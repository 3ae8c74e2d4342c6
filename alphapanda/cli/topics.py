"""Creating the pipeline's topics with the configured partitions, replicas and configs."""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from alphapanda.kafka_connection import KafkaConnection, as_connection
from alphapanda.topic_policy import TopicPolicy

__all__ = ["ensure_topics", "PartitionCountMismatch", "TopicSetupError"]

#: DescribeConfigs' source of a value set on the topic itself (not a broker default).
DYNAMIC_TOPIC_CONFIG = 1


class TopicSetupError(RuntimeError):
    """The topics cannot be made as the settings say; the message names the setting."""


class PartitionCountMismatch(TopicSetupError):
    pass


async def ensure_topics(kafka: str | KafkaConnection, names: list[str], partitions: int, *,
                        policy: TopicPolicy | None = None, timeout: float = 20.0) -> list[str]:
    """Create the missing topics; returns the names created.

    Existing topics must have ``partitions``; the policy's configs (min.insync.replicas,
    retention) are set on them where they differ, keeping what else was set on the topic.
    """
    policy = policy or TopicPolicy()
    admin = AIOKafkaAdminClient(**as_connection(kafka).options(), request_timeout_ms=int(timeout * 1000))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            brokers = len((await admin.describe_cluster())["brokers"])
            try:
                policy.check_brokers(brokers)
            except ValueError as exc:
                raise TopicSetupError(str(exc)) from None
            await admin.create_topics([
                NewTopic(n, num_partitions=partitions, replication_factor=policy.replication_factor,
                         topic_configs=policy.config_for(n))
                for n in missing
            ])
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
            factor = policy.replication_factor
            fewer = [
                f"{d['topic']} has {replicas}" for d in described
                if (replicas := min(len(p["replicas"]) for p in d["partitions"])) < factor
            ]
            if fewer:
                raise TopicSetupError(
                    f"TOPIC_REPLICATION_FACTOR={factor}, but existing topics have fewer replicas: "
                    f"{_shortened(fewer)}. Kafka does not add replicas by itself: move them with "
                    "kafka-reassign-partitions, or delete the topics and run `alphapanda topics create` again"
                )
            await _align_configs(admin, present, policy)
        # Created topics become visible to metadata a moment later on some brokers.
        for _ in range(50):
            if set(names) <= set(await admin.list_topics()):
                break
            await asyncio.sleep(0.1)
        return missing
    finally:
        await admin.close()


def _shortened(items: list[str], shown: int = 5) -> str:
    more = len(items) - shown
    return ", ".join(items[:shown]) + (f" and {more} more" if more > 0 else "")


async def _align_configs(admin: AIOKafkaAdminClient, topics: list[str], policy: TopicPolicy) -> None:
    """Set the policy's configs on existing topics where they differ (a changed retention setting
    applies to topics made before). AlterConfigs replaces a topic's whole set, so the values
    set on the topic by others are sent along."""
    responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t) for t in topics])
    changes = []
    for response in responses:
        for resource in response.resources:
            error_code, _, _, name, entries = resource[:5]
            if error_code:
                continue
            current = {e[0]: e[1] for e in entries}
            own = {e[0]: e[1] for e in entries if len(e) > 4 and e[4] == DYNAMIC_TOPIC_CONFIG}
            wanted = policy.config_for(name)
            if any(current.get(k) != v for k, v in wanted.items()):
                changes.append(ConfigResource(ConfigResourceType.TOPIC, name, configs={**own, **wanted}))
    if changes:
        await admin.alter_configs(changes)
