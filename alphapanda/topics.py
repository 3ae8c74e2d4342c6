"""Every topic name of the system, and the reverse: the broker a topic belongs to.

The broker of a message is the first dot-separated segment of its topic (CONTRACTS.md). Agents
subscribe to the topic lists of all active brokers and route with :func:`broker_of`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from alphapanda import brokers

__all__ = [
    "MARKET_TICKS",
    "DLQ_SUFFIX",
    "BrokerTopics",
    "UnknownBrokerTopic",
    "broker_of",
    "dlq_of",
    "account_of",
    "all_topics",
]

MARKET_TICKS = "market.ticks"
DLQ_SUFFIX = ".dlq"


class UnknownBrokerTopic(ValueError):
    """A topic whose prefix is not a known broker."""


@dataclass(frozen=True)
class BrokerTopics:
    """The topics of one broker (trading venue/account namespace)."""

    broker: str

    def __post_init__(self) -> None:
        brokers.check_broker_name(self.broker)

    @property
    def signals_raw(self) -> str:
        return f"{self.broker}.signals.raw"

    @property
    def signals_validated(self) -> str:
        return f"{self.broker}.signals.validated"

    @property
    def signals_rejected(self) -> str:
        return f"{self.broker}.signals.rejected"

    @property
    def orders_submitted(self) -> str:
        return f"{self.broker}.orders.submitted"

    @property
    def orders_filled(self) -> str:
        return f"{self.broker}.orders.filled"

    @property
    def orders_failed(self) -> str:
        return f"{self.broker}.orders.failed"

    @property
    def pnl_snapshots(self) -> str:
        return f"{self.broker}.pnl.snapshots"

    @property
    def venue_updates(self) -> str:
        """Order updates from the venue itself (Kite websocket text frames, postbacks), raw."""
        return f"{self.broker}.orders.updates"

    @property
    def order_triggers(self) -> str:
        """Ticks that working orders wait for (paper), forwarded by account to the execution lane."""
        return f"{self.broker}.orders.triggers"

    @property
    def risk_control(self) -> str:
        """Limit and trading-state changes, applied by the risk agent in order with signals."""
        return f"{self.broker}.risk.control"

    def all(self) -> list[str]:
        return [
            self.signals_raw,
            self.signals_validated,
            self.signals_rejected,
            self.orders_submitted,
            self.orders_filled,
            self.orders_failed,
            self.pnl_snapshots,
            self.risk_control,
            self.venue_updates,
            self.order_triggers,
        ]


def account_of(broker: str) -> str:
    """The account id that keys a broker's order flow (one account per broker for now)."""
    return broker


def key_partition(key: bytes, partitions: int) -> int:
    """The partition the producers' default partitioner (murmur2) gives a message keyed ``key``."""
    # Imported here: the domain modules import this module, and no Kafka client with it.
    from aiokafka.partitioner import murmur2

    return (murmur2(key) & 0x7FFFFFFF) % partitions


def account_partition(broker: str, partitions: int) -> int:
    """The partition of ``broker``'s order flow, and so of its table records (written under its
    events): the account key as the topics carry it."""
    return key_partition(account_of(broker).encode(), partitions)


def dlq_of(topic: str) -> str:
    return topic + DLQ_SUFFIX


def broker_of(topic: str, active: Iterable[str] | None = None) -> str:
    """The broker a topic belongs to; raises :class:`UnknownBrokerTopic` for any other topic."""
    prefix = topic.split(".", 1)[0]
    known = brokers.KNOWN_BROKERS if active is None else active
    if prefix not in known or "." not in topic:
        raise UnknownBrokerTopic(f"topic {topic!r} has no known broker prefix")
    return prefix


def all_topics(active_brokers: Iterable[str], *, with_dlq: bool = True) -> list[str]:
    """Every topic the pipeline uses for these brokers, DLQs included."""
    topics = [MARKET_TICKS]
    for broker in active_brokers:
        topics.extend(BrokerTopics(broker).all())
    if with_dlq:
        topics.extend([dlq_of(t) for t in topics if not t.endswith(DLQ_SUFFIX)])
    return topics
