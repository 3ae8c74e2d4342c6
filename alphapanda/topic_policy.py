"""What every topic the app creates is made with: replicas, min.insync.replicas, retention.

Pure configuration (no Kafka client): ``topics create`` applies it to the pipeline's topics and
the worker's transport to the changelogs and Faust's internal topics, so a replicated cluster
gets replicated topics everywhere. ``market.ticks`` and the dead-letter topics keep messages for
a set time; changelogs are compacted (Faust sets that) and keep each key's last value.
"""

from __future__ import annotations

from dataclasses import dataclass

from alphapanda.topics import DLQ_SUFFIX, MARKET_TICKS

__all__ = ["TopicPolicy", "retention_ms"]


def retention_ms(hours: float) -> int:
    """Kafka's ``retention.ms`` for a number of hours; -1 keeps messages forever."""
    return -1 if hours == -1 else int(hours * 3_600_000)


@dataclass(frozen=True)
class TopicPolicy:
    replication_factor: int = 1
    min_insync_replicas: int = 1
    ticks_retention_hours: float = 168.0
    dlq_retention_hours: float = 720.0

    @classmethod
    def from_settings(cls, settings) -> "TopicPolicy":
        return cls(
            replication_factor=settings.topic_replication_factor,
            min_insync_replicas=settings.min_insync_replicas,
            ticks_retention_hours=settings.topic_ticks_retention_hours,
            dlq_retention_hours=settings.topic_dlq_retention_hours,
        )

    def common_config(self) -> dict[str, str]:
        """What every topic gets, changelogs included."""
        return {"min.insync.replicas": str(self.min_insync_replicas)}

    def config_for(self, topic: str) -> dict[str, str]:
        """The topic configuration ``topics create`` gives (and keeps) on ``topic``."""
        config = self.common_config()
        if topic == MARKET_TICKS:
            config["retention.ms"] = str(retention_ms(self.ticks_retention_hours))
        elif topic.endswith(DLQ_SUFFIX):
            config["retention.ms"] = str(retention_ms(self.dlq_retention_hours))
        return config

    def check_brokers(self, brokers: int) -> None:
        """A factor above the live brokers cannot be created: say so, naming the setting."""
        if self.replication_factor > brokers:
            raise ValueError(
                f"TOPIC_REPLICATION_FACTOR={self.replication_factor}, but the cluster has "
                f"{brokers} live broker{'s' if brokers != 1 else ''}: each replica needs a broker of its own; "
                f"lower it or add brokers"
            )
